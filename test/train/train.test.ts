import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend } from '../../src/engine/backend.ts';
import { train, DEFAULT_TRAIN, type TrainOptions } from '../../src/train/trainer.ts';
import { DEFAULT_AUGMENT, NO_AUGMENT } from '../../src/train/data.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { tempDir } from '../helpers/tmp.ts';
import { tinyDataset } from '../helpers/tiny.ts';

// Created at the top level: the helper's clean-up hook belongs to the file, not to a hook.
const root = await tempDir();
const data = join(root, 'tiny');
before(async () => {
  await setupBackend('wasm', { quiet: true });
  await tinyDataset(data);
});

const options = (name: string, epochs: number): TrainOptions => ({
  ...DEFAULT_TRAIN, data, name, project: join(root, 'runs'), imgsz: 128, epochs, batch: 3, augment: NO_AUGMENT, warmupEpochs: 1, optimizer: 'sgd',
});

test('train writes the Ultralytics run layout, and --resume continues exactly where it stopped', async () => {
  const straight = await train(options('straight', 3));
  assert.equal(straight.runDir, join(root, 'runs', 'straight'));
  const csv = (await readFile(join(straight.runDir, 'results.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv[0], 'epoch,train/box_loss,train/obj_loss,train/cls_loss,train/seg_loss,val/ap60,val/coco_mask_ap,lr,seconds');
  assert.equal(csv.length, 4);
  for (const row of csv.slice(1)) for (const v of row.split(',').slice(1, 5)) assert.ok(Number(v) > 0 && Number.isFinite(Number(v)), row);
  const best = await loadCheckpoint(join(straight.runDir, 'weights', 'best'));
  assert.equal(best.meta.epoch, straight.best.epoch);
  assert.equal(JSON.parse(await readFile(join(straight.runDir, 'args.json'), 'utf8')).imgsz, 128);

  // Interrupted in its third epoch (as Ctrl-C would), then resumed: the same weights, byte for byte.
  await assert.rejects(train(options('resumed', 3), (p) => { if (p.epoch === 2) throw new Error('interrupted'); }), /interrupted/);
  const resumed = await train({ ...options('resumed', 3), resume: true });
  assert.equal(resumed.history.length, 3);
  assert.deepEqual(await readFile(join(resumed.runDir, 'weights', 'last', 'weights.bin')), await readFile(join(straight.runDir, 'weights', 'last', 'weights.bin')));
  // The same with AdamW, whose moments and step count are saved too.
  const adamOpts = (name: string) => ({ ...options(name, 2), optimizer: 'adamw' as const, lr0: 0.002 });
  const adamStraight = await train(adamOpts('adam-straight'));
  await assert.rejects(train(adamOpts('adam-resumed'), (p) => { if (p.epoch === 1) throw new Error('interrupted'); }), /interrupted/);
  const adamResumed = await train({ ...adamOpts('adam-resumed'), resume: true });
  assert.deepEqual(await readFile(join(adamResumed.runDir, 'weights', 'last', 'weights.bin')), await readFile(join(adamStraight.runDir, 'weights', 'last', 'weights.bin')));
  // A finished run can be extended: --resume with more epochs trains on from where it ended.
  const extended = await train({ ...options('straight', 3), resume: true, extendTo: 4 });
  assert.equal(extended.history.length, 4);
  assert.equal(JSON.parse(await readFile(join(straight.runDir, 'args.json'), 'utf8')).epochs, 4);
  // A taken name gets a number, as Ultralytics does.
  assert.equal((await train(options('straight', 1))).runDir, join(root, 'runs', 'straight2'));
});

test('batches made in worker threads train exactly as inline ones, with the official schedule (nominal batch, warm-up floor, clipping)', async () => {
  const opts = (name: string, workers: number): TrainOptions => ({
    ...options(name, 2), augment: { ...DEFAULT_AUGMENT, mosaic: 1, mosaicView: 'canvas', scale: 0.5 }, batch: 2, nbs: 6, warmupMinIters: 4, clipGrad: 10,
    gains: { box: 0.05, obj: 1, cls: 0.5 }, maskTarget: 'official', workers,
  });
  const inline = await train(opts('inline', 0));
  const pooled = await train(opts('pooled', 2));
  assert.deepEqual(pooled.history.map((h) => h.box), inline.history.map((h) => h.box));
  assert.deepEqual(await readFile(join(pooled.runDir, 'weights', 'last', 'weights.bin')), await readFile(join(inline.runDir, 'weights', 'last', 'weights.bin')));
  // 6 tiles in batches of 2: 3 batches an epoch, nominal 3. The warm-up lasts 4 batches (the
  // floor; 1 epoch is 3) and accumulates 1, 2, 2, 2, 3 batches at ni 0..4 (numpy's rounding of
  // 1 + 2 ni / 4), then 3: updates after ni 0, 2 (2 in) and 5 (3 in, also the epoch's end).
  const last = await loadCheckpoint(join(inline.runDir, 'weights', 'last'));
  assert.equal((last.meta.state as { updates: number }).updates, 3);
  last.model.dispose();
});

test('--stitch trains on crops of tiles with their slide neighbours', async () => {
  const r = await train({ ...options('stitch', 1), augment: { ...NO_AUGMENT, stitch: 1 } });
  const csv = (await readFile(join(r.runDir, 'results.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv.length, 2);
  assert.ok(Number(csv[1]!.split(',')[2]) > 0, 'objectness loss is scored outside the ignored area');
});

test('bad training input fails before any work', async () => {
  await assert.rejects(train({ ...options('empty', 1), trainDatasets: [7] }), /no labelled tiles in dataset\(s\) 7: the training set is empty/);
  await assert.rejects(train({ ...options('f', 1), fold: 5 }), /--fold 5 is outside 0\.\.4/);
  await assert.rejects(train({ ...options('r', 1), name: 'never', resume: true }), /nothing to resume/);
  const small = modelConfig('small');
  const other = join(root, 'other');
  await saveCheckpoint(other, new TfModel(buildYolov7Seg(small), small), { imgsz: 128, epoch: 0, metrics: {} });
  await assert.rejects(train({ ...options('init', 1), init: other }), /a small model .* this run trains a tiny model/);
});
