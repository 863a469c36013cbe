import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { mulberry32 } from '../../src/util/stats.ts';
import { arr, conv2d, conv2dBackward, geometry, maxPoolBackward, upsampleBackward, type Arr4 } from './reference.ts';

const random = mulberry32(11);
const randn = (shape: [number, number, number, number]): Arr4 => {
  const a = arr(shape);
  for (let k = 0; k < a.data.length; k++) a.data[k] = random() * 2 - 1;
  return a;
};
const toTf = (a: Arr4) => tf.tensor4d(Float32Array.from(a.data), a.shape);

/** Largest |a - b| over the largest |b|: float32 against float64. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0, scale = 1e-12;
  for (let k = 0; k < b.length; k++) { worst = Math.max(worst, Math.abs(a[k]! - b[k]!)); scale = Math.max(scale, Math.abs(b[k]!)); }
  return worst / scale;
}

const BACKENDS = ['wasm', 'cpu'] as const;
before(async () => { await setupBackend('wasm', { quiet: true }); });

test('the float64 reference agrees with finite differences', () => {
  const x = randn([1, 5, 5, 2]), w = randn([3, 3, 2, 2]), dy = randn([1, 3, 3, 2]);
  const g = geometry(5, 5, 3, 2, 'same');
  const { dx, dw } = conv2dBackward(x, w, dy, g);
  const loss = (xx: Arr4, ww: Arr4) => conv2d(xx, ww, g).data.reduce((s, v, k) => s + v * dy.data[k]!, 0);
  const eps = 1e-6;
  for (const k of [0, 7, 23, 49]) {
    const xp = arr(x.shape, x.data); xp.data[k]! += eps;
    const xm = arr(x.shape, x.data); xm.data[k]! -= eps;
    assert.ok(Math.abs((loss(xp, w) - loss(xm, w)) / (2 * eps) - dx.data[k]!) < 1e-7);
  }
  for (const k of [0, 5, 17, 35]) {
    const wp = arr(w.shape, w.data); wp.data[k]! += eps;
    const wm = arr(w.shape, w.data); wm.data[k]! -= eps;
    assert.ok(Math.abs((loss(x, wp) - loss(x, wm)) / (2 * eps) - dw.data[k]!) < 1e-7);
  }
});

for (const backend of BACKENDS) {
  test(`conv2d gradients on ${backend}: kernels 1/3/5, strides 1/2, same/valid, odd sizes, batch 3`, async () => {
    await tf.setBackend(backend);
    let checked = 0;
    for (const k of [1, 3, 5]) for (const stride of [1, 2]) for (const pad of ['same', 'valid'] as const) for (const [h, w] of [[9, 7], [8, 8]] as const) {
      if (pad === 'valid' && k > Math.min(h, w)) continue;
      const g = geometry(h, w, k, stride, pad);
      const x = randn([3, h, w, 4]), wt = randn([k, k, 4, 5]), dy = randn([3, g.outH, g.outW, 5]);
      const ref = conv2dBackward(x, wt, dy, g);
      const [dx, dw] = tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad))([toTf(x), toTf(wt)], toTf(dy)));
      const where = `k=${k} s=${stride} ${pad} ${h}x${w}`;
      assert.ok(relError(await dx!.data(), ref.dx.data) < 1e-5, `dx ${where}: ${relError(await dx!.data(), ref.dx.data)}`);
      assert.ok(relError(await dw!.data(), ref.dw.data) < 1e-5, `dw ${where}: ${relError(await dw!.data(), ref.dw.data)}`);
      tf.dispose([dx!, dw!]);
      checked++;
    }
    assert.equal(checked, 24);
  });

  test(`max-pool gradients on ${backend}: 2x2 stride 2, and 5/9/13 stride 1 same with negative inputs`, async () => {
    await tf.setBackend(backend);
    for (const [k, stride, pad, h] of [[2, 2, 'valid', 8], [2, 2, 'valid', 7], [5, 1, 'same', 7], [9, 1, 'same', 6], [13, 1, 'same', 5]] as const) {
      const g = geometry(h, h, k, stride, pad);
      // All inputs negative: padding must act as -inf, never as 0.
      const x = randn([2, h, h, 3]);
      for (let q = 0; q < x.data.length; q++) x.data[q] = -1 - Math.abs(x.data[q]!);
      const dy = randn([2, g.outH, g.outW, 3]);
      const ref = maxPoolBackward(x, dy, k, g);
      const dx = tf.tidy(() => tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, k, stride, pad))(toTf(x), toTf(dy)));
      assert.ok(relError(await dx.data(), ref.dx.data) < 1e-6, `maxpool k=${k} s=${stride} ${pad} ${h}: ${relError(await dx.data(), ref.dx.data)}`);
      dx.dispose();
    }
  });

  test(`nearest upsample x2 gradient on ${backend}, batch 3`, async () => {
    await tf.setBackend(backend);
    const dy = randn([3, 6, 10, 4]);
    const dx = tf.tidy(() => tf.grad((a: tf.Tensor) => tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [6, 10]))(tf.zeros([3, 3, 5, 4]), toTf(dy)));
    assert.ok(relError(await dx.data(), upsampleBackward(dy, 2).data) < 1e-6);
    dx.dispose();
  });
}

test('gather rows gradient (wasm lacks UnsortedSegmentSum): repeated rows sum', async () => {
  for (const backend of BACKENDS) {
    await tf.setBackend(backend);
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const dy = tf.tensor2d([[1, 1], [2, 2], [10, 10]]);
    const g = tf.grad((a: tf.Tensor) => tf.gather(a, tf.tensor1d([2, 0, 2], 'int32')))(x, dy);
    assert.deepEqual(Array.from(await g.data()), [2, 2, 0, 0, 11, 11], backend);
  }
});
