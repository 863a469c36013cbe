import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { scannerBlur } from '../../src/synth/blur.ts';
import { referenceScannerBlur } from '../../src/synth/blur-reference.ts';
import { Rng } from '../../src/util/random.ts';
import { assembleKernels } from '../../scripts/build-kernels.ts';

test('blur.wasm is what blur.wat assembles to (npm run build:kernels)', async () => {
  const committed = readFileSync(new URL('../../src/synth/blur.wasm', import.meta.url));
  assert.deepEqual(new Uint8Array(committed), await assembleKernels('src/synth/blur'));
});

test('the SIMD scanner blur gives the bits of its plain-loop definition: RGB and one-channel images, whole and fractional amounts, a wild range of values', () => {
  const rng = new Rng(3);
  for (const [side, n] of [[512, 3], [512, 1], [16, 3], [10, 1]] as const) {
    const image = Float32Array.from({ length: side * side * n }, () => rng.chance(0.1) ? rng.uniform(-1e6, 1e6) : rng.uniform(0, 255));
    for (const amount of [1, 2, 1.25, 0.3, 3]) {
      const simd = image.slice(), plain = image.slice();
      scannerBlur(simd, amount, n);
      referenceScannerBlur(plain, amount, n);
      assert.deepEqual(new Uint8Array(simd.buffer), new Uint8Array(plain.buffer), `${side} x ${side} x ${n}, amount ${amount}`);
      assert.ok(simd.some((v, k) => v !== image[k]), 'the image changed');
    }
  }
  // An amount of 0 leaves the image as it is; a row of odd length is refused.
  const flat = new Float32Array(8 * 8 * 3).fill(7);
  scannerBlur(flat, 0);
  assert.ok(flat.every((v) => v === 7));
  assert.throws(() => scannerBlur(new Float32Array(5 * 5), 1, 1), /not a square image of 1 channels with an even row/);
});
