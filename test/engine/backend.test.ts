import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';

test('auto picks wasm where tfjs-node is not installed; explicit devices are honoured or fail clearly', async () => {
  assert.equal(await setupBackend('auto', { quiet: true }), 'wasm');
  assert.equal(await setupBackend('cpu', { quiet: true }), 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  await assert.rejects(setupBackend('node', { quiet: true }), /@tensorflow\/tfjs-node \(or -gpu\) is not installed.*use --device wasm or cpu/);
  assert.equal(await setupBackend('wasm', { quiet: true }), 'wasm');
  // The wasm backend trains: the convolution filter gradient it lacks is supplied.
  const w = tf.variable(tf.ones([3, 3, 2, 2]));
  const x = tf.ones([1, 5, 5, 2]) as tf.Tensor4D;
  const { grads } = tf.variableGrads(() => tf.sum(tf.conv2d(x, w as unknown as tf.Tensor4D, 1, 'valid')) as tf.Scalar, [w]);
  // Each filter tap sees a 3x3 output window of ones: gradient 9 everywhere.
  assert.deepEqual(Array.from(await grads[w.name]!.data()), new Array(36).fill(9));
});
