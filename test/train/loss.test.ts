import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { assignLevel } from '../../src/train/targets.ts';
import { bceWithLogits, ciou, computeLoss, defaultHyp, maskLoss } from '../../src/train/loss.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';

before(async () => { await setupBackend('wasm', { quiet: true }); });
const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) < tol, `${a} != ${b}`);

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

test('CIoU by hand: two 2x2 boxes one apart', async () => {
  const v = await ciou(tf.tensor2d([[0, 0, 2, 2], [5, 5, 2, 4]]), tf.tensor2d([[1, 0, 2, 2], [5, 5, 2, 4]])).data();
  // IoU 2/6; enclosing box 3 x 2 (diagonal^2 13); centre distance^2 1; same aspect ratio: v = 0.
  close(v[0]!, 1 / 3 - 1 / 13);
  close(v[1]!, 1);
  // Different aspect ratios add v * alpha: boxes (0,0,2,2) and (0,0,2,4): IoU 0.5, rho 0, c2 = 4 + 16.
  const w = (await ciou(tf.tensor2d([[0, 0, 2, 2]]), tf.tensor2d([[0, 0, 2, 4]])).data())[0]!;
  const vv = (4 / Math.PI ** 2) * (Math.atan(0.5) - Math.atan(1)) ** 2;
  close(w, 0.5 - vv * (vv / (vv - 0.5 + 1)));
});

test('BCE on logits by hand', async () => {
  const v = await bceWithLogits(tf.tensor1d([0, 2, -3]), tf.tensor1d([1, 1, 1])).data();
  close(v[0]!, Math.log(2));
  close(v[1]!, Math.log(1 + Math.exp(-2)));
  close(v[2]!, 3 + Math.log(1 + Math.exp(-3)));
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
