import { BASIS, CHROMA_Q50, LUMA_Q50, scaledTable } from './jpeg.ts';

/**
 * jpeg.wat's definition in plain loops: what `jpegRoundTrip` and `quantisePlane` (jpeg.ts) must
 * give bit for bit (test/synth/jpeg.test.ts). Nothing in the generator calls this.
 */

/**
 * Quantise one 8x8 block in place: DCT, round to the table's steps, inverse DCT. Each sum runs
 * in index order from 0, as a plain loop would; the inverse leaves out the terms of
 * coefficients quantised to zero (most of the high frequencies), which add exactly nothing.
 */
function quantiseBlock(block: Float64Array, table: Float64Array, tmp: Float64Array): void {
  const B = BASIS;
  // Forward: rows then columns.
  for (let y = 0; y < 8; y++) {
    const r = y * 8;
    const b0 = block[r]!, b1 = block[r + 1]!, b2 = block[r + 2]!, b3 = block[r + 3]!, b4 = block[r + 4]!, b5 = block[r + 5]!, b6 = block[r + 6]!, b7 = block[r + 7]!;
    for (let u = 0; u < 8; u++) {
      const c = u * 8;
      tmp[r + u] = 0 + B[c]! * b0 + B[c + 1]! * b1 + B[c + 2]! * b2 + B[c + 3]! * b3 + B[c + 4]! * b4 + B[c + 5]! * b5 + B[c + 6]! * b6 + B[c + 7]! * b7;
    }
  }
  // `last[u]`: one past the last row v with a nonzero coefficient in column u.
  const last = LAST;
  for (let u = 0; u < 8; u++) {
    const t0 = tmp[u]!, t1 = tmp[8 + u]!, t2 = tmp[16 + u]!, t3 = tmp[24 + u]!, t4 = tmp[32 + u]!, t5 = tmp[40 + u]!, t6 = tmp[48 + u]!, t7 = tmp[56 + u]!;
    last[u] = 0;
    for (let v = 0; v < 8; v++) {
      const c = v * 8;
      const s = 0 + B[c]! * t0 + B[c + 1]! * t1 + B[c + 2]! * t2 + B[c + 3]! * t3 + B[c + 4]! * t4 + B[c + 5]! * t5 + B[c + 6]! * t6 + B[c + 7]! * t7;
      const q = table[c + u]!;
      const value = Math.round(s / q) * q;
      block[c + u] = value;
      if (value !== 0) last[u] = v + 1;
    }
  }
  // Inverse: columns then rows.
  let columns = 0; // one past the last column with a nonzero coefficient
  for (let u = 0; u < 8; u++) {
    const end = last[u]!;
    if (end > 0) columns = u + 1;
    for (let y = 0; y < 8; y++) {
      let s = 0;
      for (let v = 0; v < end; v++) s += B[v * 8 + y]! * block[v * 8 + u]!;
      tmp[y * 8 + u] = s;
    }
  }
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
    let s = 0;
    for (let u = 0; u < columns; u++) s += B[u * 8 + x]! * tmp[y * 8 + u]!;
    block[y * 8 + x] = s;
  }
}
const LAST = new Int32Array(8);

/** Quantise a w x h plane (w, h multiples of 8) block by block, values level-shifted by 128. */
export function referenceQuantisePlane(plane: Float64Array, w: number, h: number, table: Float64Array): void {
  const block = new Float64Array(64), tmp = new Float64Array(64);
  for (let by = 0; by < h; by += 8) {
    for (let bx = 0; bx < w; bx += 8) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[(by + y) * w + bx + x]! - 128;
      quantiseBlock(block, table, tmp);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) plane[(by + y) * w + bx + x] = block[y * 8 + x]! + 128;
    }
  }
}

/**
 * A half-resolution plane at full resolution by libjpeg's triangle filter: each output pixel
 * mixes its own sample (3/4) with the next one towards it (1/4) along each axis.
 */
function upsample(plane: Float64Array, cw: number, ch: number): Float64Array {
  const w = cw * 2, h = ch * 2;
  const rows = new Float64Array(cw * h); // vertical pass
  for (let y = 0; y < h; y++) {
    const sy = y >> 1, ny = Math.min(ch - 1, Math.max(0, y & 1 ? sy + 1 : sy - 1));
    for (let x = 0; x < cw; x++) rows[y * cw + x] = 0.75 * plane[sy * cw + x]! + 0.25 * plane[ny * cw + x]!;
  }
  const out = new Float64Array(w * h); // horizontal pass
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = x >> 1, nx = Math.min(cw - 1, Math.max(0, x & 1 ? sx + 1 : sx - 1));
      out[y * w + x] = 0.75 * rows[y * cw + sx]! + 0.25 * rows[y * cw + nx]!;
    }
  }
  return out;
}

export const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * The image as a JPEG decoder would return it after encoding at `quality` (1..100). Width and
 * height must be multiples of 16 (the 4:2:0 block grid starts at the image's corner).
 */
export function referenceJpegRoundTrip(rgb: Uint8Array, width: number, height: number, quality: number): Uint8Array {
  if (width % 16 || height % 16) throw new Error(`jpegRoundTrip: ${width}x${height} is not a multiple of 16`);
  const n = width * height, cw = width / 2, ch = height / 2;
  const Y = new Float64Array(n), Cb = new Float64Array(cw * ch), Cr = new Float64Array(cw * ch);
  for (let p = 0; p < n; p++) {
    const r = rgb[p * 3]!, g = rgb[p * 3 + 1]!, b = rgb[p * 3 + 2]!;
    Y[p] = 0.299 * r + 0.587 * g + 0.114 * b;
  }
  // Chroma: each 2x2 block's mean.
  const cbOf = (k: number) => -0.168736 * rgb[k]! - 0.331264 * rgb[k + 1]! + 0.5 * rgb[k + 2]!;
  const crOf = (k: number) => 0.5 * rgb[k]! - 0.418688 * rgb[k + 1]! - 0.081312 * rgb[k + 2]!;
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      // The block's four pixels in row order, summed from 0 in that order.
      const a = ((2 * y) * width + 2 * x) * 3, b = a + 3, c = a + width * 3, d = c + 3;
      Cb[y * cw + x] = (0 + cbOf(a) + cbOf(b) + cbOf(c) + cbOf(d)) / 4 + 128;
      Cr[y * cw + x] = (0 + crOf(a) + crOf(b) + crOf(c) + crOf(d)) / 4 + 128;
    }
  }
  referenceQuantisePlane(Y, width, height, scaledTable(LUMA_Q50, quality));
  const chroma = scaledTable(CHROMA_Q50, quality);
  referenceQuantisePlane(Cb, cw, ch, chroma);
  referenceQuantisePlane(Cr, cw, ch, chroma);
  const cbFull = upsample(Cb, cw, ch), crFull = upsample(Cr, cw, ch);
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const yy = Y[p]!, cb = cbFull[p]! - 128, cr = crFull[p]! - 128;
    out[p * 3] = clampByte(yy + 1.402 * cr);
    out[p * 3 + 1] = clampByte(yy - 0.344136 * cb - 0.714136 * cr);
    out[p * 3 + 2] = clampByte(yy + 1.772 * cb);
  }
  return out;
}
