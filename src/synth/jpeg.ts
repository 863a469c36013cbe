/**
 * The scanner's JPEG compression, simulated: real WSIs are stored as JPEG tiles (Aperio scanners
 * write quality 70 by default), and the competition's tiles carry its traces: 8x8 blocks whose
 * borders show in the pixel differences, chroma at half resolution, fine texture quantised
 * away. `jpegRoundTrip` puts an RGB image through baseline JPEG's lossy steps (JFIF YCbCr,
 * 4:2:0 chroma subsampling, 8x8 DCT, the standard quantisation tables scaled for a quality,
 * triangle-filter chroma upsampling as libjpeg's default decoder does) and back, without
 * entropy coding (lossless, so it changes nothing).
 */
import { readFileSync } from 'node:fs';

/** The standard tables (ITU T.81 Annex K) at quality 50, in row-major order. */
export const LUMA_Q50 = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
export const CHROMA_Q50 = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  ...new Array<number>(32).fill(99),
];

/** A table scaled for `quality` 1..100 as libjpeg does (50: as is; 100: all ones). */
export function scaledTable(base: readonly number[], quality: number): Float64Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? 5000 / q : 200 - 2 * q;
  return Float64Array.from(base, (v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

/** The orthonormal 8-point DCT-II basis: C[u * 8 + x] (JPEG's transform is this, in 2-D). */
export const BASIS = (() => {
  const c = new Float64Array(64);
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) c[u * 8 + x] = (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return c;
})();

interface Kernels { memory: WebAssembly.Memory; quantisePlane(w: number, h: number): void }
let kernels: Kernels | null = null;
/** jpeg.wasm with the basis and its transpose in place (its memory layout: jpeg.wat). */
function wasm(): Kernels {
  if (kernels) return kernels;
  const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./jpeg.wasm', import.meta.url)))).exports as unknown as Kernels;
  const heap = new Float64Array(k.memory.buffer);
  heap.set(BASIS, 0);
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) heap[64 + x * 8 + u] = BASIS[u * 8 + x]!;
  return (kernels = k);
}

/**
 * Quantise a w x h plane (w, h multiples of 8) block by block, values level-shifted by 128:
 * each 8x8 block through the DCT, rounded to the table's steps, and back. In WebAssembly SIMD
 * (jpeg.wat), with the bits of its plain-loop definition (`referenceQuantisePlane`,
 * jpeg-reference.ts: a test holds the two to the same bits).
 */
export function quantisePlane(plane: Float64Array, w: number, h: number, table: Float64Array): void {
  const k = wasm();
  const bytes = 2560 + plane.length * 8;
  const pages = Math.ceil(bytes / 65536) - k.memory.buffer.byteLength / 65536;
  if (pages > 0) k.memory.grow(pages);
  const heap = new Float64Array(k.memory.buffer);
  heap.set(table, 128);
  heap.set(plane, 320);
  k.quantisePlane(w, h);
  plane.set(heap.subarray(320, 320 + plane.length));
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

const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * The image as a JPEG decoder would return it after encoding at `quality` (1..100). Width and
 * height must be multiples of 16 (the 4:2:0 block grid starts at the image's corner).
 */
export function jpegRoundTrip(rgb: Uint8Array, width: number, height: number, quality: number): Uint8Array {
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
  quantisePlane(Y, width, height, scaledTable(LUMA_Q50, quality));
  const chroma = scaledTable(CHROMA_Q50, quality);
  quantisePlane(Cb, cw, ch, chroma);
  quantisePlane(Cr, cw, ch, chroma);
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
