import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { bnSilu, bnSiluReference, channelSum } from '../../src/engine/ops.ts';

before(async () => { await setupBackend('wasm', { quiet: true }); });

function maxRel(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array): number {
  let worst = 0, scale = 1e-12;
  for (let k = 0; k < a.length; k++) { worst = Math.max(worst, Math.abs(a[k]! - b[k]!)); scale = Math.max(scale, Math.abs(b[k]!)); }
  return worst / scale;
}

for (const backend of ['wasm', 'cpu']) {
  test(`fused BN+SiLU: value and gradients match autograd of the plain ops (${backend})`, async () => {
    await tf.setBackend(backend);
    const x = tf.randomNormal([3, 7, 5, 6], 0.5, 2, 'float32', 1) as tf.Tensor4D;
    const gamma = tf.randomUniform([6], 0.5, 1.5, 'float32', 2) as tf.Tensor1D;
    const beta = tf.randomNormal([6], 0, 0.5, 'float32', 3) as tf.Tensor1D;
    const dy = tf.randomNormal([3, 7, 5, 6], 0, 1, 'float32', 4);
    const fused = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => bnSilu(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D).y);
    const plain = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => bnSiluReference(a as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D));
    const gf = fused([x, gamma, beta], dy);
    const gp = plain([x, gamma, beta], dy);
    for (let k = 0; k < 3; k++) {
      const rel = maxRel(await gf[k]!.data(), await gp[k]!.data());
      assert.ok(rel < 2e-4, `gradient ${['x', 'gamma', 'beta'][k]}: ${rel}`);
    }
    const r = bnSilu(x, gamma, beta);
    assert.ok(maxRel(await r.y.data(), await bnSiluReference(x, gamma, beta).data()) < 1e-5);
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    assert.ok(maxRel(await r.mean.data(), await mean.data()) < 1e-5);
    assert.ok(maxRel(await r.variance.data(), await variance.data()) < 1e-4);
    assert.deepEqual(Array.from(await channelSum(tf.ones([2, 3, 4, 5])).data()), [24, 24, 24, 24, 24]);
  });
}
