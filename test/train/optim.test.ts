import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { accumulationAt, clipGlobalNorm, roundHalfEven } from '../../src/train/optim.ts';

before(async () => {
  await setupBackend('wasm', { quiet: true });
});

test('the warm-up accumulation rises as the official train.py computes it (numpy rounding included)', () => {
  // Reference: max(1, np.interp(ni, [0, nw], [1, nbs / batch]).round()) from segment/train.py,
  // evaluated with numpy 1.24 for nbs 64 at batch 4 (nw 100) and at batch 5 (nw 21).
  const at4 = [0, 1, 3, 7, 10, 50, 63, 70, 99, 100].map((ni) => accumulationAt(ni, 100, 64 / 4));
  assert.deepEqual(at4, [1, 1, 1, 2, 2, 8, 10, 12, 16, 16]);
  const at5 = [0, 5, 10, 11, 20, 21].map((ni) => accumulationAt(ni, 21, 64 / 5));
  assert.deepEqual(at5, [1, 4, 7, 7, 12, 13]);
  assert.equal(accumulationAt(500, 100, 16), 16, 'after the warm-up: the nominal batch');
  assert.deepEqual([0.5, 1.5, 2.5, 8.5, 7.49, -7.5].map(roundHalfEven), [0, 2, 2, 8, 7, -8]);
});

test('gradient clipping matches torch.nn.utils.clip_grad_norm_', () => {
  // Reference: clip_grad_norm_([a, b], max_norm=2.0) in PyTorch 1.13 on these gradients.
  const a = tf.tensor2d(Array.from({ length: 12 }, (_, k) => k / 7 - 0.5), [3, 4]);
  const b = tf.tensor1d([3, -4, 1.5]);
  const grads = new Map<string, tf.Tensor>([['a', a], ['b', b]]);
  const norm = clipGlobalNorm(grads, 2.0);
  assert.ok(Math.abs(norm - 5.581035614013672) < 1e-5, `norm ${norm}`);
  const wantA = [-0.1791781783103943, -0.127984419465065, -0.07679064571857452, -0.02559688128530979, 0.025596892461180687, 0.07679065316915512,
    0.127984419465065, 0.1791781783103943, 0.23037196695804596, 0.28156569600105286, 0.3327594995498657, 0.3839532136917114];
  const wantB = [1.0750690698623657, -1.4334254264831543, 0.5375345349311829];
  const gotA = grads.get('a')!.dataSync(), gotB = grads.get('b')!.dataSync();
  wantA.forEach((v, k) => assert.ok(Math.abs(gotA[k]! - v) < 1e-6, `a[${k}] ${gotA[k]} vs ${v}`));
  wantB.forEach((v, k) => assert.ok(Math.abs(gotB[k]! - v) < 1e-6, `b[${k}] ${gotB[k]} vs ${v}`));
  // Under the bound: untouched (the same tensors).
  const small = new Map<string, tf.Tensor>([['b', tf.tensor1d([0.3, 0.4])]]);
  const before = small.get('b');
  assert.ok(Math.abs(clipGlobalNorm(small, 2.0) - 0.5) < 1e-6);
  assert.equal(small.get('b'), before);
  tf.dispose([...grads.values(), ...small.values()]);
});
