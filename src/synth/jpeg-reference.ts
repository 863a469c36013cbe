import { BASIS } from './jpeg.ts';

/**
 * jpeg.wat's definition in plain loops: what `quantisePlane` (jpeg.ts) must give bit for bit
 * (test/synth/jpeg.test.ts). Nothing in the generator calls this.
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

