import { hashSeed } from '../util/random.ts';

/**
 * Smooth noise fields in WSI coordinates: a tile asks for its 512 x 512 window of a field that
 * is defined over the whole (infinite) WSI, so neighbouring tiles and slide cells join without
 * a seam. Values lie in [-1, 1] (sd about 0.38: 0.377 measured over 40 fields).
 */

/** Lattice value at integer (ix, iy) of field `seed`, in [-1, 1]: a cheap inline hash. */
export function lattice(seed: number, ix: number, iy: number): number {
  let h = Math.imul(ix, 0x27d4eb2d) ^ Math.imul(iy, 0x165667b1) ^ seed;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) / 2 ** 32) * 2 - 1;
}

const smooth = (t: number) => t * t * (3 - 2 * t);

/** The field at one WSI point: value noise on a lattice of `cell` px, smoothstep-interpolated. */
export function valueNoiseAt(seed: number, x: number, y: number, cell: number): number {
  const fx = x / cell, fy = y / cell;
  const ix = Math.floor(fx), iy = Math.floor(fy);
  const sx = smooth(fx - ix), sy = smooth(fy - iy);
  const a = lattice(seed, ix, iy), b = lattice(seed, ix + 1, iy);
  const c = lattice(seed, ix, iy + 1), d = lattice(seed, ix + 1, iy + 1);
  return a + (b - a) * sx + (c + (d - c) * sx - a - (b - a) * sx) * sy;
}

/**
 * A size x size window (upper-left (x0, y0)) of value noise on a lattice of `cell` px. With
 * `stretch` > 1 the window's row y samples the field at WSI row (y0 + y) / stretch: a scanner
 * whose rows are finer than its columns (render.ts), for the fields objects are placed by.
 */
export function valueNoiseField(seed: number, x0: number, y0: number, cell: number, size = 512, stretch = 1): Float32Array {
  const out = new Float32Array(size * size);
  const gx0 = Math.floor(x0 / cell), gy0 = Math.floor(y0 / stretch / cell);
  const n = Math.ceil(size / cell) + 2;
  const lat = new Float32Array(n * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) lat[j * n + i] = lattice(seed, gx0 + i, gy0 + j);
  const sxs = new Float32Array(size), ixs = new Int32Array(size);
  for (let x = 0; x < size; x++) {
    const fx = (x0 + x) / cell - gx0;
    ixs[x] = Math.floor(fx);
    sxs[x] = smooth(fx - ixs[x]!);
  }
  // Along a row, the field mixes two lattice rows' horizontal interpolations (`top`, `bottom`),
  // which stay the same for every image row in one lattice row: computed once per lattice row.
  const top = new Float64Array(size), bottom = new Float64Array(size);
  let row = -1;
  for (let y = 0; y < size; y++) {
    const fy = (y0 + y) / stretch / cell - gy0;
    const jy = Math.floor(fy), sy = smooth(fy - jy);
    if (jy !== row) {
      row = jy;
      for (let x = 0; x < size; x++) {
        const ix = ixs[x]!, sx = sxs[x]!;
        const a = lat[jy * n + ix]!, b = lat[jy * n + ix + 1]!;
        const c = lat[(jy + 1) * n + ix]!, d = lat[(jy + 1) * n + ix + 1]!;
        top[x] = a + (b - a) * sx;
        bottom[x] = c + (d - c) * sx;
      }
    }
    const o = y * size;
    for (let x = 0; x < size; x++) out[o + x] = top[x]! + (bottom[x]! - top[x]!) * sy;
  }
  return out;
}

/**
 * Value noise stretched along `angle`: lattice cells of `along` x `across` px, so the field
 * has streaks in that direction (the fibres of the interstitium).
 */
export function orientedNoiseField(seed: number, x0: number, y0: number, along: number, across: number, angle: number, size = 512): Float32Array {
  const out = new Float32Array(size * size);
  const cos = Math.cos(angle), sin = Math.sin(angle);
  for (let y = 0; y < size; y++) {
    const wy = y0 + y;
    for (let x = 0; x < size; x++) {
      const wx = x0 + x;
      const u = (wx * cos + wy * sin) / along, v = (-wx * sin + wy * cos) / across;
      const iu = Math.floor(u), iv = Math.floor(v);
      const su = smooth(u - iu), sv = smooth(v - iv);
      const a = lattice(seed, iu, iv), b = lattice(seed, iu + 1, iv);
      const c = lattice(seed, iu, iv + 1), d = lattice(seed, iu + 1, iv + 1);
      const top = a + (b - a) * su;
      out[y * size + x] = top + (c + (d - c) * su - top) * sv;
    }
  }
  return out;
}

/** Seed of a named field of a WSI world. */
export const fieldSeed = (seed: number, wsi: number, field: number) => hashSeed(seed, wsi, field) | 0;
