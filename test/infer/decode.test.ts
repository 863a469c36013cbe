import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { softMask, softMasks, type RawDetection } from '../../src/infer/decode.ts';
import { contextCanvas, imageToInput } from '../../src/infer/preprocess.ts';
import { transposeInput } from '../../src/infer/preprocess.ts';
import { readRgb } from '../../src/data/images.ts';
import { REFERENCE_DIR } from '../../src/reference/build.ts';
import { join } from 'node:path';
import { mulberry32 } from '../../src/util/stats.ts';

await setupBackend('cpu', { quiet: true });
const random = mulberry32(7);

test('imageToInput equals tfjs resizeBilinear (half-pixel centres) on a real tile, flips included', async () => {
  const file = join(REFERENCE_DIR, 'trn_img_0006ff2aa7cd.png');
  const img = await readRgb(file, { width: 512, height: 512 }, file);
  for (const size of [640, 256]) {
    const ours = imageToInput(img, size);
    const ref = tf.tidy(() => tf.image.resizeBilinear(tf.div<tf.Tensor4D>(tf.tensor4d(img.data, [1, 512, 512, 3], 'float32'), 255), [size, size], false, true).dataSync());
    let worst = 0;
    for (let k = 0; k < ours.length; k++) worst = Math.max(worst, Math.abs(ours[k]! - ref[k]!));
    assert.ok(worst < 1e-5, `size ${size}: max diff ${worst}`);
  }
  const h = imageToInput(img, 256, 'h'), v = imageToInput(img, 256, 'v'), plain = imageToInput(img, 256);
  for (const [x, y] of [[0, 0], [17, 200], [255, 3]] as const) {
    for (let c = 0; c < 3; c++) {
      assert.equal(h[(y * 256 + 255 - x) * 3 + c], plain[(y * 256 + x) * 3 + c]);
      assert.equal(v[((255 - y) * 256 + x) * 3 + c], plain[(y * 256 + x) * 3 + c]);
    }
  }
});

test('imageToInput writes channels first with the very values it writes channels last', async () => {
  const file = join(REFERENCE_DIR, 'trn_img_0006ff2aa7cd.png');
  const img = await readRgb(file, { width: 512, height: 512 }, file);
  for (const [size, flip] of [[640, 'none'], [256, 'h'], [320, 'v']] as const) {
    const last = imageToInput(img, size, flip), first = imageToInput(img, size, flip, undefined, 'nchw');
    const plane = size * size;
    let differing = 0;
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) if (first[c * plane + p] !== last[p * 3 + c]) differing++;
    assert.equal(differing, 0, `${size} px, flip ${flip}`);
    assert.deepEqual(transposeInput(last, 1, size, 'nhwc'), first);
    assert.deepEqual(transposeInput(first, 1, size, 'nchw'), last);
  }
});

test('soft masks equal sigmoid(coefs x protos), upsampled by tfjs, cropped to the box', () => {
  const [ph, nm, inputSize, out] = [32, 8, 128, 96];
  const protoData = Float32Array.from({ length: 2 * ph * ph * nm }, () => random() * 2 - 1);
  const proto = { data: protoData, shape: [2, ph, ph, nm] as [number, number, number, number] };
  const dets: RawDetection[] = [
    { box: [10.3, 20.7, 60.2, 90.9], score: 0.9, cls: 0, coefs: Float32Array.from({ length: nm }, () => random() * 4 - 2) },
    { box: [-5, 100, 40, 140], score: 0.5, cls: 0, coefs: Float32Array.from({ length: nm }, () => random() * 4 - 2) },
  ];
  const masks = softMasks(dets, proto, 1, inputSize, out, out);
  const s = out / inputSize;
  dets.forEach((d, k) => {
    const ref = tf.tidy(() => {
      const p = tf.reshape(tf.slice(tf.tensor4d(protoData, [2, ph, ph, nm]), [1, 0, 0, 0], [1, -1, -1, -1]), [ph * ph, nm]);
      const m = tf.reshape(tf.sigmoid(tf.matMul(p, tf.tensor2d(d.coefs, [nm, 1]))), [1, ph, ph, 1]) as tf.Tensor4D;
      return tf.image.resizeBilinear(m, [out, out], false, true).dataSync();
    });
    const m = masks[k]!;
    assert.equal(m.x0, Math.max(0, Math.ceil(d.box[0] * s)));
    assert.equal(m.y0 + m.h, Math.min(out, Math.ceil(d.box[3] * s)));
    let worst = 0;
    for (let y = 0; y < m.h; y++) for (let x = 0; x < m.w; x++) worst = Math.max(worst, Math.abs(m.prob[y * m.w + x]! - ref[(m.y0 + y) * out + m.x0 + x]!));
    assert.ok(worst < 1e-5, `detection ${k}: max diff ${worst}`);
  });
});

test('a soft mask clipped to a window holds the unclipped mask\'s values there', () => {
  const [ph, nm, inputSize, out] = [40, 8, 160, 200];
  const proto = { data: Float32Array.from({ length: ph * ph * nm }, () => random() * 2 - 1), shape: [1, ph, ph, nm] as [number, number, number, number] };
  for (let k = 0; k < 50; k++) {
    const [x, y, s] = [random() * 180 - 20, random() * 180 - 20, 3 + random() * 90];
    const d: RawDetection = { box: [x, y, x + s, y + s * (0.5 + random())], score: 0.5, cls: 0, coefs: Float32Array.from({ length: nm }, () => random() * 4 - 2) };
    const whole = softMask(d, proto, 0, inputSize, out, out);
    const clip = { x0: 30, y0: 30, x1: 170, y1: 170 };
    const part = softMask(d, proto, 0, inputSize, out, out, clip);
    const inside = (px: number, py: number) => px >= clip.x0 && px < clip.x1 && py >= clip.y0 && py < clip.y1;
    let expected = 0;
    for (let yy = 0; yy < whole.h; yy++) for (let xx = 0; xx < whole.w; xx++) {
      if (!inside(whole.x0 + xx, whole.y0 + yy)) continue;
      expected++;
      assert.equal(part.prob[(whole.y0 + yy - part.y0) * part.w + (whole.x0 + xx - part.x0)], whole.prob[yy * whole.w + xx], `detection ${k} at ${whole.x0 + xx},${whole.y0 + yy}`);
    }
    assert.equal(part.w * part.h, expected, `detection ${k}: the clipped window is the overlap`);
  }
});

test('context canvas: neighbours where they exist, the tile mirrored where not', () => {
  const tile = (v: number) => ({ width: 4, height: 4, data: new Uint8Array(48).map((_, k) => v + Math.floor(k / 3)) });
  const centre = tile(0), right = tile(100);
  const c = contextCanvas(centre, 2, (dx, dy) => (dx === 1 && dy === 0 ? right : null));
  assert.equal(c.width, 8);
  const px = (x: number, y: number) => c.data[(y * 8 + x) * 3];
  assert.equal(px(2, 2), 0, 'tile pixel (0,0)');
  assert.equal(px(6, 3), 100 + 1 * 4 + 0, 'right neighbour pixel (0,1)');
  assert.equal(px(1, 2), 0, 'mirrored left: pixel (0,0)');
  assert.equal(px(0, 3), 1 * 4 + 1, 'mirrored left two out: pixel (1,1)');
  assert.equal(px(2, 0), 1 * 4 + 0, 'mirrored top: pixel (0,1)');
  assert.throws(() => contextCanvas(centre, 5, () => null), /more than a tile/);
});
