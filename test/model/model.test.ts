import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.ts';
import { tempDir } from '../helpers/tmp.ts';

before(async () => { await setupBackend('wasm', { quiet: true }); });

test('tiny YOLOv7-seg runs forward and backward on wasm with the shapes of the graph', async () => {
  const config = modelConfig('tiny');
  const model = new TfModel(buildYolov7Seg(config), config, 1);
  const x = tf.randomUniform([2, 64, 96, 3]) as tf.Tensor4D;
  const out = model.forward(x, false);
  assert.deepEqual(out.heads.map((h) => h.shape), [[2, 8, 12, 120], [2, 4, 6, 120], [2, 2, 3, 120]]);
  assert.deepEqual(out.proto.shape, [2, 16, 24, 32]);
  // Objectness starts low (YOLOv5's bias init): sigmoid of the P3 objectness channel ~ 8 / 80^2.
  const obj = tf.sigmoid(tf.slice(out.heads[0]!, [0, 0, 0, 4], [-1, -1, -1, 1]));
  assert.ok((await tf.mean(obj).data())[0]! < 0.01);
  const { grads } = tf.variableGrads(() => {
    const o = model.forward(x, true);
    return tf.addN([...o.heads, o.proto].map((t) => tf.mean(tf.square(t)))) as tf.Scalar;
  }, model.trainable);
  assert.equal(Object.keys(grads).length, model.trainable.length);
  for (const [name, g] of Object.entries(grads)) assert.ok(Number.isFinite((await tf.sum(tf.abs(g)).data())[0]!), name);
  model.updateRunningStats();
  assert.throws(() => model.forward(tf.zeros([1, 50, 64, 3]) as tf.Tensor4D, false), /multiples of 32/);
});

test('checkpoint round trip; corrupt or foreign checkpoints fail naming the file', async () => {
  const dir = await tempDir();
  const config = modelConfig('tiny');
  const model = new TfModel(buildYolov7Seg(config), config, 2);
  const x = tf.randomUniform([1, 64, 64, 3]) as tf.Tensor4D;
  const before = await model.forward(x, false).proto.data();
  const ckpt = join(dir, 'best');
  await saveCheckpoint(ckpt, model, { imgsz: 64, epoch: 3, metrics: { ap: 0.5 } }, new Map([['momentum/x', tf.ones([2])]]));
  const loaded = await loadCheckpoint(ckpt);
  assert.equal(loaded.meta.epoch, 3);
  assert.deepEqual(loaded.meta.config, config);
  assert.deepEqual(Array.from(await loaded.extra.get('momentum/x')!.data()), [1, 1]);
  assert.deepEqual(await loaded.model.forward(x, false).proto.data(), before);

  await assert.rejects(loadCheckpoint(join(dir, 'nope')), /nope\/model\.json: checkpoint not found/);
  await truncate(join(ckpt, 'weights.bin'), 100);
  await assert.rejects(loadCheckpoint(ckpt), /weights\.bin: has 100 bytes, the manifest describes \d+ \(truncated or corrupt\)/);
  await writeFile(join(ckpt, 'model.json'), '{"format": "layers-model"}');
  await assert.rejects(loadCheckpoint(ckpt), /model\.json: not a vascseg checkpoint/);
});
