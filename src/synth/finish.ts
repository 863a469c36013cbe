import { readFileSync } from 'node:fs';

/**
 * What the last per-pixel step of a tile takes (render.ts, `finishTile`): the painted tile (RGB
 * float32), its glass share and two smooth fields per pixel, the WSI's colour map, and the
 * sensor noise's Gaussian table with the tile's walk through it.
 */
export interface FinishInput {
  px: Float32Array;
  glass: Float32Array;
  /** The brightness drift's field and the contrast drift's, -1..1 (times `drift` and `spread`). */
  shift: Float32Array;
  gain: Float32Array;
  /** Each channel's colour map: 256 float32 values, then `* scale + shiftBy`. */
  lut: readonly [Float32Array, Float32Array, Float32Array];
  scale: number;
  shiftBy: number;
  mean: number;
  drift: number;
  spread: number;
  glassRgb: readonly [number, number, number];
  /** Unit Gaussians (a power of two of them), walked from `at` by `stride`, times `noise`, and `grain` more on glass. */
  table: Float32Array;
  at: number;
  stride: number;
  noise: number;
  grain: number;
}

interface Kernels {
  memory: WebAssembly.Memory;
  finish(px: number, glass: number, shift: number, gain: number, lut: number, table: number, at: number, stride: number, mask: number, n: number, out: number,
    scale: number, shiftBy: number, mean: number, noise: number, drift: number, spread: number, grain: number, glassR: number, glassG: number, glassB: number): void;
}
let kernels: Kernels | null = null;
const wasm = () => (kernels ??= new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./finish.wasm', import.meta.url)))).exports as unknown as Kernels);

/**
 * The finished tile's RGB bytes (finish.wat), with the bytes of its plain-loop definition
 * (`referenceFinish`, finish-reference.ts: a test holds the two to the same bytes).
 */
export function finishPixels(f: FinishInput): Uint8Array {
  const n = f.glass.length;
  if (f.px.length !== 3 * n || f.shift.length !== n || f.gain.length !== n || f.lut.some((l) => l.length !== 256) || (f.table.length & (f.table.length - 1)) !== 0) {
    throw new Error('finishPixels: arrays of mismatched sizes');
  }
  const k = wasm();
  // Layout: the maps, the table, px, glass, shift, gain, the bytes out.
  const lut = 0, table = lut + 3 * 1024, px = table + 4 * f.table.length, glass = px + 12 * n, shift = glass + 4 * n, gain = shift + 4 * n, out = gain + 4 * n;
  const pages = Math.ceil((out + 3 * n) / 65536) - k.memory.buffer.byteLength / 65536;
  if (pages > 0) k.memory.grow(pages);
  const heap = new Float32Array(k.memory.buffer);
  f.lut.forEach((l, c) => heap.set(l, lut / 4 + 256 * c));
  heap.set(f.table, table / 4);
  heap.set(f.px, px / 4);
  heap.set(f.glass, glass / 4);
  heap.set(f.shift, shift / 4);
  heap.set(f.gain, gain / 4);
  k.finish(px, glass, shift, gain, lut, table, f.at, f.stride, f.table.length - 1, n, out,
    f.scale, f.shiftBy, f.mean, f.noise, f.drift, f.spread, f.grain, ...f.glassRgb);
  return new Uint8Array(k.memory.buffer, out, 3 * n).slice();
}
