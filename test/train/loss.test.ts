import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { assignLevel } from '../../src/train/targets.ts';
import { ciou, computeLoss, defaultHyp, maskLoss } from '../../src/train/loss.ts';
import { bceOfLogit } from '../../src/util/logits.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';

before(async () => { await setupBackend('wasm', { quiet: true }); });
const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) < tol, `${a} != ${b}`);

/** Elementwise binary cross-entropy on logits in tfjs, the stable form (a reference for the dense mask loss). */
const bceWithLogits = (logits: tf.Tensor, targets: tf.Tensor) => tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));

test('target assignment: shape-ratio filter and the two nearest neighbouring cells', () => {
  // 32 px input, stride 8: a 4x4 grid. Anchors 1, 2 and 8 cells wide; the box is 1 cell, centred at (1.2, 2.4).
  const as = assignLevel([{ image: 0, cls: 2, box: [1.2 / 4, 2.4 / 4, 0.25, 0.25] }], [[8, 8], [16, 16], [64, 64]], 8, 4, 4);
  assert.equal(as.count, 6, 'anchor 8x too large is dropped; 3 cells for each of the other two');
  const rows = Array.from({ length: as.count }, (_, r) => [as.anchor[r], as.gx[r], as.gy[r]]);
  assert.deepEqual(rows, [[0, 1, 2], [1, 1, 2], [0, 0, 2], [1, 0, 2], [0, 1, 1], [1, 1, 1]]);
  const tbox = Array.from(as.tbox.slice(8, 12)).map((v) => Math.round(v * 1e6) / 1e6);
  assert.deepEqual(tbox, [1.2, 0.4, 1, 1], 'box relative to the left neighbour cell');
  assert.deepEqual(Array.from(as.anchorWh.slice(0, 4)), [1, 1, 2, 2]);
  assert.deepEqual(Array.from(as.cls), [2, 2, 2, 2, 2, 2]);
  // A centre in the first cell gets no left/up neighbour; one in the right half gets the right one.
  const edge = assignLevel([{ image: 0, cls: 0, box: [0.7 / 4, 0.2 / 4, 0.25, 0.25] }], [[8, 8]], 8, 4, 4);
  assert.deepEqual(Array.from({ length: edge.count }, (_, r) => [edge.gx[r], edge.gy[r]]), [[0, 0], [1, 0]]);
});

test('CIoU by hand: two 2x2 boxes one apart', () => {
  // IoU 2/6; enclosing box 3 x 2 (diagonal^2 13); centre distance^2 1; same aspect ratio: v = 0.
  close(ciou([0, 0, 2, 2], [1, 0, 2, 2]), 1 / 3 - 1 / 13);
  close(ciou([5, 5, 2, 4], [5, 5, 2, 4]), 1);
  // Different aspect ratios add v * alpha: boxes (0,0,2,2) and (0,0,2,4): IoU 0.5, rho 0, c2 = 4 + 16.
  const vv = (4 / Math.PI ** 2) * (Math.atan(0.5) - Math.atan(1)) ** 2;
  close(ciou([0, 0, 2, 2], [0, 0, 2, 4]), 0.5 - vv * (vv / (vv - 0.5 + 1)));
});

test('CIoU gradient equals central differences (alpha held constant), overlapping, nested, apart', () => {
  const cases: [number[], number[]][] = [
    [[0.3, 0.2, 1.7, 2.1], [0.9, -0.1, 2.2, 1.4]],
    [[1, 1, 0.6, 0.9], [1.1, 0.9, 3, 2.5]],
    [[-2, 0.5, 1.2, 0.8], [1.5, 0.2, 0.7, 1.9]],
  ];
  for (const [p, t] of cases) {
    const grad = new Float64Array(4);
    ciou(p, t, grad);
    // alpha is a constant of the gradient: difference ciou with alpha frozen at p's value.
    const v = (q: number[]) => (4 / Math.PI ** 2) * (Math.atan(t[2]! / (t[3]! + 1e-7)) - Math.atan(q[2]! / (q[3]! + 1e-7))) ** 2;
    const alpha = (q: number[]) => v(q) / (v(q) - plainIou(q, t) + 1 + 1e-7);
    const frozen = (q: number[]) => ciou(q, t) + v(q) * alpha(q) - v(q) * alpha(p);
    for (let k = 0; k < 4; k++) {
      const h = 1e-6, up = [...p], down = [...p];
      up[k]! += h; down[k]! -= h;
      const numeric = (frozen(up) - frozen(down)) / (2 * h);
      assert.ok(Math.abs(grad[k]! - numeric) < 1e-6, `case ${p} vs ${t}, d/dp[${k}]: ${grad[k]} vs ${numeric}`);
    }
  }
});

/** Plain IoU of two (cx, cy, w, h) boxes with YOLOv5's eps, for CIoU's alpha. */
function plainIou(p: number[], t: number[]): number {
  const ph = p[3]! + 1e-7, th = t[3]! + 1e-7;
  const iw = Math.max(0, Math.min(p[0]! + p[2]! / 2, t[0]! + t[2]! / 2) - Math.max(p[0]! - p[2]! / 2, t[0]! - t[2]! / 2));
  const ih = Math.max(0, Math.min(p[1]! + ph / 2, t[1]! + th / 2) - Math.max(p[1]! - ph / 2, t[1]! - th / 2));
  return (iw * ih) / (p[2]! * ph + t[2]! * th - iw * ih + 1e-7);
}

test('BCE on logits by hand', () => {
  close(bceOfLogit(0, 1), Math.log(2));
  close(bceOfLogit(2, 1), Math.log(1 + Math.exp(-2)));
  close(bceOfLogit(-3, 1), 3 + Math.log(1 + Math.exp(-3)));
  close(bceOfLogit(0.5, 0.25), -(0.25 * Math.log(1 / (1 + Math.exp(-0.5))) + 0.75 * Math.log(1 - 1 / (1 + Math.exp(-0.5)))));
});

test('mask loss by hand: BCE summed inside the box over the box area', async () => {
  // 2x2 prototypes, one mask coefficient: logits = coef * proto.
  const proto = tf.tensor3d([[[1], [1]], [[1], [1]]]);
  // Box = left column (x 0..1 of 2 px, full height): 2 pixels, area 2 px.
  const zero = (await maskLoss(tf.tensor2d([[0]]), proto, [Float32Array.from([1, 0, 1, 0])], [[0.25, 0.5, 0.5, 1]]).data())[0]!;
  close(zero, Math.log(2), 1e-6);
  // Logits 2, targets 1 inside the box: each pixel log(1 + e^-2); pixels outside the box do not count.
  const two = (await maskLoss(tf.tensor2d([[2]]), proto, [Float32Array.from([1, 0, 1, 0])], [[0.25, 0.5, 0.5, 1]]).data())[0]!;
  close(two, Math.log(1 + Math.exp(-2)), 1e-6);
});

test('mask loss gradients equal tfjs autograd of the dense cropped BCE', async () => {
  const [mh, mw, nm, n] = [12, 10, 5, 4];
  const proto = tf.randomNormal([mh, mw, nm], 0, 1, 'float32', 1) as tf.Tensor3D;
  const coefs = tf.randomNormal([n, nm], 0, 1, 'float32', 2) as tf.Tensor2D;
  const gt = Array.from({ length: n }, (_, k) => Float32Array.from({ length: mh * mw }, (_, q) => ((q * 7 + k) % 3 === 0 ? 1 : 0)));
  const boxes: [number, number, number, number][] = [[0.5, 0.5, 0.4, 0.3], [0.1, 0.9, 0.3, 0.35], [0.8, 0.2, 0.5, 0.5], [0.5, 0.5, 1, 1]];
  // The dense reference: BCE on every pixel, times a 0/1 crop, summed per target / (pixels x box area), mean.
  const dense = (c: tf.Tensor2D, p: tf.Tensor3D) => {
    const logits = tf.matMul(c, tf.reshape(tf.transpose(p, [2, 0, 1]), [nm, mh * mw]));
    const crop = new Float32Array(n * mh * mw), scale = new Float32Array(n);
    boxes.forEach(([cx, cy, w, h], k) => {
      for (let r = 0; r < mh; r++) for (let col = 0; col < mw; col++) {
        if (col >= (cx - w / 2) * mw && col < (cx + w / 2) * mw && r >= (cy - h / 2) * mh && r < (cy + h / 2) * mh) crop[k * mh * mw + r * mw + col] = 1;
      }
      scale[k] = 1 / (mh * mw * w * h);
    });
    const target = tf.tensor2d(Float32Array.from(gt.flatMap((g) => [...g])), [n, mh * mw]);
    return tf.mean(tf.mul(tf.sum(tf.mul(bceWithLogits(logits, target), tf.tensor2d(crop, [n, mh * mw])), 1), tf.tensor1d(scale))) as tf.Scalar;
  };
  const ours = tf.grads((c: tf.Tensor, p: tf.Tensor) => maskLoss(c as tf.Tensor2D, p as tf.Tensor3D, gt, boxes))([coefs, proto]);
  const ref = tf.grads((c: tf.Tensor, p: tf.Tensor) => dense(c as tf.Tensor2D, p as tf.Tensor3D))([coefs, proto]);
  close((await maskLoss(coefs, proto, gt, boxes).data())[0]!, (await dense(coefs, proto).data())[0]!, 1e-5);
  for (let k = 0; k < 2; k++) {
    const a = await ours[k]!.data(), b = await ref[k]!.data();
    for (let i = 0; i < a.length; i++) close(a[i]!, b[i]!, 1e-5);
  }
});

test('a batch without targets: the loss has a gradient for every model output, zero for the prototypes (what the onnx engine asks for)', async () => {
  const config = modelConfig('tiny');
  const model = new TfModel(buildYolov7Seg(config), config, 3);
  const out = model.forward(tf.randomUniform([2, 64, 64, 3]) as tf.Tensor4D, true);
  const hyp = defaultHyp(3, 64);
  // Found by a demo run whose pseudo-labelled mosaic had no vessel in it: tfjs threw
  // "Cannot compute gradient of y=f(x) with respect to x" for the unused prototypes.
  const grads = tf.grads((...o: tf.Tensor[]) => computeLoss({ heads: o.slice(0, 3) as tf.Tensor4D[], proto: o[3] as tf.Tensor4D }, { targets: [], masks: [] }, config, hyp).total)([...out.heads, out.proto]);
  assert.equal(grads.length, 4);
  for (const g of grads.slice(0, 3)) assert.ok((await tf.sum(tf.abs(g)).data())[0]! > 0, 'objectness reaches every head');
  assert.equal((await tf.sum(tf.abs(grads[3]!)).data())[0], 0, 'the prototypes get a zero gradient');
  model.updateRunningStats();
});

test('the whole loss on the tiny model: finite parts, gradients reach every head', async () => {
  const config = modelConfig('tiny');
  const model = new TfModel(buildYolov7Seg(config), config, 3);
  const x = tf.randomUniform([2, 64, 64, 3]) as tf.Tensor4D;
  const mask = new Float32Array(16 * 16);
  for (let r = 4; r < 8; r++) for (let c = 4; c < 8; c++) mask[r * 16 + c] = 1;
  const batch = { targets: [{ image: 1, cls: 0, box: [0.375, 0.375, 0.25, 0.25] as [number, number, number, number] }], masks: [mask] };
  const hyp = defaultHyp(3, 64);
  const { value, grads } = tf.variableGrads(() => computeLoss(model.forward(x, true), batch, config, hyp).total, model.trainable);
  assert.ok(Number.isFinite((await value.data())[0]!));
  const parts = computeLoss(model.forward(x, true), batch, config, hyp);
  for (const k of ['box', 'obj', 'cls', 'seg'] as const) assert.ok((await parts[k].data())[0]! > 0, `${k} > 0`);
  const headGrad = grads[model.weights.get('head.detect0.w')!.name]!;
  assert.ok((await tf.sum(tf.abs(headGrad)).data())[0]! > 0);
  const protoGrad = grads[model.weights.get('head.proto.cv3.w')!.name]!;
  assert.ok((await tf.sum(tf.abs(protoGrad)).data())[0]! > 0, 'the mask loss reaches the prototypes');
  // No targets: only objectness.
  const empty = computeLoss(model.forward(x, true), { targets: [], masks: [] }, config, hyp);
  assert.equal((await empty.box.data())[0], 0);
  assert.ok((await empty.obj.data())[0]! > 0);
  model.updateRunningStats();
});
