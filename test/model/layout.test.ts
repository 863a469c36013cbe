import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { hwioToOihw, oihwToHwio } from '../../src/model/layout.ts';

before(() => setupBackend('cpu', { quiet: true }).then(() => undefined));

test('kernel layouts: HWIO <-> OIHW equal tfjs transposes, for channel counts inside, across and beyond one block', () => {
  for (const [o, i, k] of [[1, 1, 1], [3, 5, 1], [16, 7, 3], [17, 33, 3], [40, 2, 5], [130, 64, 1]] as const) {
    const hwio = Float32Array.from({ length: k * k * i * o }, (_, n) => n * 0.5 - 3);
    const expected = tf.tidy(() => tf.transpose(tf.tensor4d(hwio, [k, k, i, o]), [3, 2, 0, 1]).dataSync() as Float32Array);
    const oihw = hwioToOihw(hwio, [o, i, k, k]);
    assert.deepEqual(oihw, expected, `hwio -> oihw at [${o}, ${i}, ${k}, ${k}]`);
    assert.deepEqual(oihwToHwio(oihw, [o, i, k, k]), hwio, `oihw -> hwio at [${o}, ${i}, ${k}, ${k}]`);
  }
});
