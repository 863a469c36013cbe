import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as kernels from '../../src/train/kernels.ts';
import { referenceKernels as ref } from '../../src/train/kernels-reference.ts';
import { assembleKernels } from '../../scripts/build-kernels.ts';

// Each SIMD kernel against its plain-loop definition, bit for bit. Lengths: shorter than a lane
// pair, odd, and across several 16,384-float chunks.
const LENGTHS = [1, 3, 16384, 16385, 40003];

/** Values of every kind a gradient or weight takes: wide magnitudes, signs, zeros, subnormals. */
function values(length: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const next = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  return Float32Array.from({ length }, (_, k) => {
    if (k % 97 === 5) return 0;
    if (k % 101 === 7) return 1e-41 * (next() - 0.5); // subnormal
    return (next() - 0.5) * 10 ** Math.floor(next() * 12 - 8);
  });
}

function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length), b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) assert.fail(`${what}[${k}]: ${got[k]} against ${want[k]} (of ${a.length})`);
}

/** Runs `call` on copies of `arrays` with the kernel and with its definition; every array must end equal. */
function same(what: string, arrays: Float32Array[], call: (k: typeof ref, a: Float32Array[]) => void): void {
  const viaKernel = arrays.map((a) => a.slice()), viaLoop = arrays.map((a) => a.slice());
  call(kernels, viaKernel);
  call(ref, viaLoop);
  viaKernel.forEach((a, i) => assertSameBits(a, viaLoop[i]!, `${what}, array ${i}`));
}

test('kernels.wasm is what kernels.wat assembles to (npm run build:kernels)', async () => {
  const committed = readFileSync(new URL('../../src/train/kernels.wasm', import.meta.url));
  assert.deepEqual(new Uint8Array(committed), await assembleKernels());
});

test('SGD and AdamW kernels: the same bits as their double-precision loops', () => {
  const [b1, b2, t, eps] = [0.937, 0.999, 3, 1e-8];
  const u1 = 1 / (1 - b1 ** t), u2 = 1 / Math.sqrt(1 - b2 ** t);
  for (const n of LENGTHS) {
    same(`sgd, n ${n}`, [values(n, 1), values(n, 2), values(n, 3)], (k, [p, g, v]) => k.sgdStep(p!, g!, v!, 5e-4, 0.937, 0.01));
    same(`adamw, n ${n}`, [values(n, 1), values(n, 2), values(n, 4).map(Math.abs), values(n, 5).map(Math.abs)],
      (k, [p, g, m, v]) => k.adamwStep(p!, g!, m!, v!, b1, b2, u1, u2, eps, 0.01, 5e-4));
  }
});

test('EMA, accumulation, scaling and sum-of-squares kernels: the same bits as their double-precision loops', () => {
  const d = 0.9999 * (1 - Math.exp(-17 / 2000));
  for (const n of LENGTHS) {
    same(`ema, n ${n}`, [values(n, 6), values(n, 7)], (k, [s, x]) => k.emaStep(s!, x!, d, 1 - d));
    same(`add, n ${n}`, [values(n, 6), values(n, 7)], (k, [sum, g]) => k.addInto(sum!, g!));
    same(`scale, n ${n}`, [values(n, 7)], (k, [a]) => k.scaleBy(a!, 10 / (123.456 + 1e-6)));
    const x = values(n, 8);
    assert.equal(kernels.sumOfSquares(x, 0.25), ref.sumOfSquares(x, 0.25), `sum of squares, n ${n}`);
  }
  assert.throws(() => kernels.addInto(new Float32Array(4), new Float32Array(5)), /kernel arrays of 5 and 4 values/);
});
