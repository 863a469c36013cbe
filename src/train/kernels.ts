import { readFileSync } from 'node:fs';

/**
 * The optimiser's per-weight loops (SGD, AdamW, the EMA, gradient accumulation, clipping) as
 * WebAssembly SIMD kernels (kernels.wat; `npm run build:kernels` assembles it into kernels.wasm).
 * They compute in double precision and round to float32 where the plain JS loops they replace
 * stored, so the results are the same bits (test/train/kernels.test.ts checks each against its
 * JS definition), at 0.24x-0.48x the time over the full model's 37.9M weights (`npm run bench:optim`).
 *
 * A kernel sees only its own memory, so each array goes through in chunks of one region (the
 * module exports how many floats that is): copied into region 0, 1, 2 ... (in argument order),
 * computed, and the written ones copied back.
 * The copies cost about as much as the arithmetic, and keep every array an ordinary
 * Float32Array the rest of the trainer and onnxruntime use as they are.
 */
interface Exports {
  memory: WebAssembly.Memory;
  region: WebAssembly.Global;
  sgd(n: number, wd: number, m: number, rate: number): void;
  adamw(n: number, b1: number, b1c: number, b2: number, b2c: number, u1: number, u2: number, eps: number, rate: number, wd: number): void;
  ema(n: number, d: number, e: number): void;
  add(n: number): void;
  scale(n: number, c: number): void;
  sumsq(n: number, sum: number): number;
}

const wasm = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./kernels.wasm', import.meta.url))));
const kernels = wasm.exports as unknown as Exports;
const heap = new Float32Array(kernels.memory.buffer);
const REGION = kernels.region.value as number;

/** Runs `kernel` over `arrays` chunk by chunk; `written`: the indices of the arrays it changes. */
function chunked(arrays: readonly Float32Array[], written: readonly number[], kernel: (n: number) => void): void {
  const length = arrays[0]!.length;
  for (const a of arrays) if (a.length !== length) throw new Error(`kernel arrays of ${a.length} and ${length} values`);
  for (let off = 0; off < length; off += REGION) {
    const n = Math.min(REGION, length - off);
    arrays.forEach((a, r) => heap.set(a.subarray(off, off + n), r * REGION));
    kernel(n);
    for (const r of written) arrays[r]!.set(heap.subarray(r * REGION, r * REGION + n), off);
  }
}

/** Nesterov SGD in place: g' = g + wd p, v = m v + g', p -= rate (g' + m v). */
export function sgdStep(p: Float32Array, g: Float32Array, v: Float32Array, wd: number, m: number, rate: number): void {
  chunked([p, g, v], [0, 2], (n) => kernels.sgd(n, wd, m, rate));
}

/** AdamW in place: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g g, p -= rate (m u1 / (sqrt(v) u2 + eps) + wd p). */
export function adamwStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  b1: number, b2: number, u1: number, u2: number, eps: number, rate: number, wd: number): void {
  chunked([p, g, m, v], [0, 2, 3], (n) => kernels.adamw(n, b1, 1 - b1, b2, 1 - b2, u1, u2, eps, rate, wd));
}

/** s = s d + x e, in place. */
export function emaStep(s: Float32Array, x: Float32Array, d: number, e: number): void {
  chunked([s, x], [0], (n) => kernels.ema(n, d, e));
}

/** sum += g, in place. */
export function addInto(sum: Float32Array, g: Float32Array): void {
  chunked([sum, g], [0], (n) => kernels.add(n));
}

/** a *= c, in place. */
export function scaleBy(a: Float32Array, c: number): void {
  chunked([a], [0], (n) => kernels.scale(n, c));
}

/** start + the squares of a's values, summed one after the other in double. */
export function sumOfSquares(a: Float32Array, start = 0): number {
  let sum = start;
  chunked([a], [], (n) => { sum = kernels.sumsq(n, sum); });
  return sum;
}
