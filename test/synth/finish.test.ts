import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { finishPixels, type FinishInput } from '../../src/synth/finish.ts';
import { referenceFinish } from '../../src/synth/finish-reference.ts';
import { Rng } from '../../src/util/random.ts';
import { assembleKernels } from '../../scripts/build-kernels.ts';

test('finish.wasm is what finish.wat assembles to (npm run build:kernels)', async () => {
  const committed = readFileSync(new URL('../../src/synth/finish.wasm', import.meta.url));
  assert.deepEqual(new Uint8Array(committed), await assembleKernels('src/synth/finish'));
});

test('the finishing kernel gives the bytes of its plain-loop definition: painted values out of range and on rounding ties, glass, strong drifts and noise', () => {
  const rng = new Rng(9);
  const n = 64 * 64;
  const field = () => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
  const lut = () => Float32Array.from({ length: 256 }, (_, k) => k * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20));
  for (const noise of [0, 0.8, 40]) {
    const input: FinishInput = {
      // Painted values below 0 and above 255, and on the .5 ties Math.round takes upwards.
      px: Float32Array.from({ length: 3 * n }, (_, k) => (k % 7 === 0 ? Math.round(rng.uniform(-3, 260)) + 0.5 : rng.uniform(-30, 290))),
      glass: Float32Array.from({ length: n }, () => (rng.chance(0.3) ? rng.uniform(0, 1) : 0)),
      shift: field(), gain: field(), lut: [lut(), lut(), lut()],
      scale: 1.1, shiftBy: -3.5, mean: 160, drift: 12, spread: 0.3, glassRgb: [217, 209, 220],
      table: Float32Array.from({ length: 1024 }, () => rng.normal()), at: 17, stride: 2 * 333 + 1, noise, grain: 4,
    };
    const bytes = finishPixels(input);
    assert.deepEqual(bytes, referenceFinish(input), `noise ${noise}`);
    assert.ok(bytes.includes(0) && bytes.includes(255), 'clamped at both ends');
  }
});
