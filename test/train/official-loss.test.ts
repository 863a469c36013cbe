/**
 * Our loss against the official YOLOv7-seg `ComputeLoss` (utils/segment/loss.py, overlap=False):
 * for fixed head outputs, prototypes, targets and masks (scripts/official-loss-case.py), the
 * four terms, the total and its gradient with respect to every head output are the same.
 * The masks are given at prototype resolution, where our cell-coverage targets of a 0/1 mask
 * equal the official ones.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { modelConfig } from '../../src/model/yolov7seg.ts';
import { computeLoss, defaultHyp } from '../../src/train/loss.ts';
import { floats, type F32 } from '../helpers/official.ts';

const fx = JSON.parse(readFileSync(new URL('../fixtures/official/loss.json', import.meta.url), 'utf8')) as {
  hyp: Record<string, number>; imgsz: number; targets: [number, number, number, number, number, number][];
  heads: F32[]; proto: F32; masks: F32; loss: Record<'box' | 'seg' | 'obj' | 'cls' | 'total', number>; grads: { heads: F32[]; proto: F32 };
};
before(() => setupBackend('cpu', { quiet: true }).then(() => undefined));

/** Official [bs, na, ny, nx, no] as our NHWC [bs, ny, nx, na * no] (channel a * no + j). */
const headNhwc = (o: F32) => {
  const [bs, na, ny, nx, no] = o.shape as [number, number, number, number, number];
  return tf.tidy(() => tf.reshape(tf.transpose(tf.tensor(floats(o), o.shape), [0, 2, 3, 1, 4]), [bs, ny, nx, na * no])) as tf.Tensor4D;
};
const protoNhwc = (o: F32) => tf.tidy(() => tf.transpose(tf.tensor4d(floats(o), o.shape as [number, number, number, number]), [0, 2, 3, 1])) as tf.Tensor4D;

test('our four loss terms, the total and its gradients equal the official ComputeLoss', () => {
  const config = modelConfig('w0.0625');
  const hyp = defaultHyp(config.classes.length, fx.imgsz);
  assert.deepEqual([hyp.box, hyp.cls, hyp.obj, hyp.anchorT], [fx.hyp.box, fx.hyp.cls, fx.hyp.obj, fx.hyp.anchor_t], 'the hyperparameters our defaults claim');
  const [mh, mw] = fx.masks.shape.slice(1) as [number, number];
  const masks = floats(fx.masks);
  const batch = {
    targets: fx.targets.map(([image, cls, cx, cy, w, h]) => ({ image, cls, box: [cx, cy, w, h] as [number, number, number, number] })),
    masks: fx.targets.map((_, k) => masks.slice(k * mh * mw, (k + 1) * mh * mw)),
  };
  const heads = fx.heads.map(headNhwc);
  const proto = protoNhwc(fx.proto);
  const parts: Record<string, number> = {};
  const grads = tf.grads((...xs: tf.Tensor[]) => {
    const l = computeLoss({ heads: xs.slice(0, 3) as tf.Tensor4D[], proto: xs[3] as tf.Tensor4D }, batch, config, hyp);
    for (const k of ['box', 'obj', 'cls', 'seg'] as const) parts[k] = l[k].dataSync()[0]!;
    return l.total;
  })([...heads, proto]);
  for (const k of ['box', 'obj', 'cls', 'seg'] as const) {
    assert.ok(Math.abs(parts[k]! - fx.loss[k]) <= 1e-5 * fx.loss[k], `${k}: ours ${parts[k]}, official ${fx.loss[k]}`);
  }
  const total = parts.box! + parts.obj! + parts.cls! + parts.seg!;
  assert.ok(Math.abs(total * 2 - fx.loss.total) <= 1e-5 * fx.loss.total, `total x batch: ours ${total * 2}, official ${fx.loss.total}`);
  const expected = [...fx.grads.heads.map(headNhwc), protoNhwc(fx.grads.proto)];
  grads.forEach((g, k) => {
    const e = expected[k]!;
    const worst = tf.max(tf.abs(tf.sub(g, e))).dataSync()[0]!, scale = tf.max(tf.abs(e)).dataSync()[0]!;
    assert.ok(worst <= 1e-4 * scale, `gradient of ${k < 3 ? `head ${k}` : 'proto'}: worst ${worst} of ${scale}`);
  });
});

test('the official mask target: filled at full size, resized as cv2.resize (bilinear), rounded to 0/1', async () => {
  const { officialProtoMask, protoMask } = await import('../../src/train/augment.ts');
  // fillPoly covers pixels 8..21 of this square; at 512 -> 128 a cell reads the centre pixels
  // 4u+1 and 4u+2 with weights 1/2 each, then rounds: >= 2 of its 4 centre pixels inside.
  const square = { type: 'blood_vessel' as const, coordinates: [[[8, 8], [21, 8], [21, 21], [8, 21]]] as [number, number][][] };
  const m = officialProtoMask(square, 128);
  const at = (u: number, v: number) => m[v * 128 + u];
  assert.equal(at(1, 2), 0, 'pixels 5, 6: outside');
  assert.equal(at(2, 2), 1, 'pixels 9, 10: inside');
  assert.equal(at(5, 2), 1, 'pixels 21, 22: half inside rounds up');
  assert.equal(at(5, 5), 0, 'a quarter rounds down');
  assert.equal(m.reduce((s, v) => s + v, 0), 15, 'cells 2..5 in both axes but the far corner');
  // Our default: the covered fraction of each cell (pixels 20..23: 20 and 21 inside).
  const c = protoMask(square, 128);
  assert.deepEqual([c[2 * 128 + 2], c[2 * 128 + 5], c[5 * 128 + 5], c[2 * 128 + 1]], [1, 0.5, 0.25, 0]);
});
