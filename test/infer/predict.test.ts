import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { saveCheckpoint } from '../../src/model/checkpoint.ts';
import { predictTile, DEFAULT_PREDICT, unflipBox, unflipMask } from '../../src/infer/predict.ts';
import { OnnxRuntime, TfjsRuntime, type Runtime } from '../../src/infer/runtime.ts';
import { exportOnnx } from '../../src/onnx/export.ts';
import { weightArrays } from '../../src/model/tfjs.ts';
import { FinishPool } from '../../src/infer/finish-pool.ts';
import { predictSources } from '../../src/infer/tiles.ts';
import { nms } from '../../src/infer/nms.ts';
import { labelComponents } from '../../src/data/components.ts';
import { decodeRle, rleBbox } from '../../src/eval/rle.ts';
import { encodeMaskString, parseSubmission } from '../../src/eval/submission.ts';
import { fromCocoResults, fromLabelPng } from '../../src/eval/export.ts';
import { loadDataset, readTileImage } from '../../src/data/dataset.ts';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';
import { tinyDataset } from '../helpers/tiny.ts';

const root = await tempDir();
const data = join(root, 'tiny');
const config = modelConfig('tiny');
await setupBackend('wasm', { quiet: true });
const models = [new TfModel(buildYolov7Seg(config), config, 1), new TfModel(buildYolov7Seg(config), config, 2)];
// Untrained masks come out empty; make these models' masks fill their boxes: constant
// prototypes (BN scale 0, shift 1) and positive mask coefficients (detection biases).
for (const m of models) {
  m.weights.get('head.proto.cv3.gamma')!.assign(tf.zeros([32]));
  m.weights.get('head.proto.cv3.beta')!.assign(tf.ones([32]));
  for (let level = 0; level < 3; level++) {
    const bias = m.weights.get(`head.detect${level}.bias`)!;
    const values = Float32Array.from(bias.dataSync());
    for (let a = 0; a < 3; a++) {
      for (let c = 0; c < 32; c++) values[a * 40 + 8 + c] = 1;
      // Model 1 is the more confident: in the ensemble its boxes (and masks) must win.
      if (m === models[1]) values[a * 40 + 4] += 2;
    }
    bias.assign(tf.tensor1d(values));
  }
}
before(async () => {
  await tinyDataset(data);
  for (const [k, m] of models.entries()) await saveCheckpoint(join(root, `fold${k}`), m, { imgsz: 128, epoch: 0, metrics: {} });
});

test('NMS keeps the best box of each overlapping group, per class', () => {
  const boxes: [number, number, number, number][] = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]];
  assert.deepEqual(nms(boxes, [0.9, 0.8, 0.7, 0.95], [0, 0, 0, 1], 0.5), [3, 0, 2]);
  assert.deepEqual(nms(boxes, [0.9, 0.8, 0.7, 0.95], [0, 0, 0, 1], 0.5, 2), [3, 0]);
});

test('flip TTA maps boxes and soft masks back to the unflipped tile', () => {
  const prob = Float32Array.from({ length: 6 }, (_, k) => k / 10); // 3 wide, 2 high
  const m = { x0: 10, y0: 20, w: 3, h: 2, prob };
  const h = unflipMask(m, 'h', 100);
  assert.equal(h.x0, 87);
  assert.deepEqual([...h.prob].map((v) => +v.toFixed(1)), [0.2, 0.1, 0, 0.5, 0.4, 0.3]);
  const v = unflipMask(m, 'v', 100);
  assert.equal(v.y0, 78);
  assert.deepEqual([...v.prob].map((x) => +x.toFixed(1)), [0.3, 0.4, 0.5, 0, 0.1, 0.2]);
  assert.deepEqual(unflipMask(h, 'h', 100), m);
  assert.deepEqual(unflipBox([10, 20, 13, 22], 'h', 100), [87, 20, 90, 22]);
  assert.deepEqual(unflipBox([10, 20, 13, 22], 'v', 100), [10, 78, 13, 80]);
});

test('fold ensemble with flip TTA: the surviving model\'s masks, one component each, inside their boxes', async () => {
  const ds = await loadDataset(data);
  const image = await readTileImage(ds, ds.tiles[0]!.id);
  const runtimes = models.map((m) => new TfjsRuntime(m, 128));
  const preds = await predictTile(runtimes, image, { ...DEFAULT_PREDICT, imgsz: 128, tta: 'flip', maxDet: 100, conf: 1e-4 });
  assert.ok(preds.length > 10 && preds.length <= 100, `${preds.length} predictions`);
  const sources = new Set(preds.map((p) => p.source));
  assert.ok([...sources].every((s) => s.startsWith('model 1')), `kept instances come from the more confident model: ${[...sources].join(', ')}`);
  const alone = await predictTile(runtimes.slice(0, 1), image, { ...DEFAULT_PREDICT, imgsz: 128, maxDet: 100, conf: 1e-4 });
  assert.ok(alone.every((p) => p.source === 'model 0'));
  for (const p of preds) {
    assert.equal(labelComponents(decodeRle(p.rle), 512, 512).count, 1, 'largest component only');
    const [x, y, w, h] = rleBbox(p.rle);
    assert.ok(x >= Math.floor(p.box[0]) - 1 && y >= Math.floor(p.box[1]) - 1 && x + w <= Math.ceil(p.box[2]) + 1 && y + h <= Math.ceil(p.box[3]) + 1, `mask ${[x, y, w, h]} outside box ${p.box}`);
  }
  for (let k = 1; k < preds.length; k++) assert.ok(preds[k - 1]!.score >= preds[k]!.score);
  const fused = await predictTile(runtimes, image, { ...DEFAULT_PREDICT, imgsz: 128, tta: 'flip', ensemble: 'wsf', maxDet: 100, conf: 1e-4 });
  assert.ok(fused.some((p) => p.source.startsWith('wsf of')), 'overlapping detections of the two models fuse');
  assert.ok(fused.every((p) => p.score <= 1));
});

test('tiles resized and finished in a worker thread equal tiles done inline, in order, with context too', async () => {
  const ds = await loadDataset(data);
  const runtimes = models.map((m) => new TfjsRuntime(m, 128));
  const sources = ds.tiles.slice(0, 4).map((t) => ({ id: t.id, load: () => readTileImage(ds, t.id) }));
  const opts = { ...DEFAULT_PREDICT, imgsz: 128, tta: 'flip' as const, maxDet: 50, conf: 1e-4 };
  const inline = new FinishPool(0), threaded = new FinishPool(1);
  const a = await predictSources(runtimes, sources, opts, inline);
  const b = await predictSources(runtimes, sources, opts, threaded);
  assert.deepEqual([...b.keys()], sources.map((s) => s.id));
  assert.ok([...a.values()].some((p) => p.length > 0));
  assert.deepEqual(b, a);
  // With context, the neighbours travel to the worker that resizes the tile.
  const right = await readTileImage(ds, ds.tiles[5]!.id);
  const withNeighbours = sources.map((s) => ({ ...s, neighbours: async () => (dx: number, dy: number) => (dx === 1 && dy === 0 ? right : null) }));
  const wide = { ...opts, context: 64 };
  const c = await predictSources(runtimes, withNeighbours, wide, inline);
  const d = await predictSources(runtimes, withNeighbours, wide, threaded);
  assert.deepEqual(d, c);
  assert.notDeepEqual(c, a, 'the context changes the predictions');
  await threaded.close();
});

test('onnxruntime takes channels-first inputs from the worker and hands its outputs over: the same predictions as channels last, inline', async () => {
  const ds = await loadDataset(data);
  const onnx = await Promise.all(models.map((m) => OnnxRuntime.create(exportOnnx(m.graph, weightArrays(m), { format: 'vascseg-yolov7-seg-onnx/1', config, imgsz: 128, epoch: 0, metrics: {} }), config, 128, { threads: 1 })));
  assert.ok(onnx.every((r) => r.layout === 'nchw'));
  // The same sessions, asking for channels-last inputs (which they transpose themselves).
  const channelsLast = onnx.map((r): Runtime => Object.assign(Object.create(r) as Runtime, { layout: 'nhwc' }));
  const sources = ds.tiles.slice(0, 4).map((t) => ({ id: t.id, load: () => readTileImage(ds, t.id) }));
  const opts = { ...DEFAULT_PREDICT, imgsz: 128, tta: 'flip' as const, maxDet: 50, conf: 1e-4 };
  const threaded = new FinishPool(1);
  try {
    const inline = await predictSources(channelsLast, sources, opts, new FinishPool(0));
    assert.ok([...inline.values()].some((p) => p.length > 0));
    assert.deepEqual(await predictSources(onnx, sources, opts, threaded), inline);
    assert.deepEqual(await predictSources(onnx, sources, { ...opts, context: 32 }, threaded), await predictSources(channelsLast, sources, { ...opts, context: 32 }, new FinishPool(0)));
    // Asked for them, the worker also writes each mask's submission string: the one the CSV writer would.
    const encoding = new FinishPool(1, undefined, true);
    try {
      const encoded = await predictSources(onnx, sources, opts, encoding);
      for (const [id, preds] of encoded) {
        assert.ok(preds.every((p) => p.maskString === encodeMaskString(p.rle)), id);
        assert.deepEqual(preds.map(({ maskString: _, ...p }) => p), inline.get(id));
      }
    } finally {
      await encoding.close();
    }
  } finally {
    await threaded.close();
    for (const r of onnx) await r.dispose();
  }
});

test('workers that run the network themselves predict what the main thread does, and a tile that fails fails the run', async () => {
  const ds = await loadDataset(data);
  const networks = models.map((m) => ({ model: exportOnnx(m.graph, weightArrays(m), { format: 'vascseg-yolov7-seg-onnx/1', config, imgsz: 128, epoch: 0, metrics: {} }), config, imgsz: 128 }));
  const onnx = await Promise.all(networks.map((n) => OnnxRuntime.create(n.model, n.config, n.imgsz, { threads: 1 })));
  const right = await readTileImage(ds, ds.tiles[5]!.id);
  const sources = ds.tiles.slice(0, 5).map((t) => ({ id: t.id, load: () => readTileImage(ds, t.id), neighbours: async () => (dx: number, dy: number) => (dx === 1 && dy === 0 ? right : null) }));
  const opts = { ...DEFAULT_PREDICT, imgsz: 128, tta: 'flip' as const, maxDet: 50, conf: 1e-4 };
  const pool = await FinishPool.withNetworks(2, networks, undefined, true);
  try {
    assert.ok(pool.runsNetwork);
    for (const o of [opts, { ...opts, context: 32 }, { ...opts, ensemble: 'wsf' as const }]) {
      const inline = await predictSources(onnx, sources, o, new FinishPool(0));
      assert.ok([...inline.values()].some((p) => p.length > 0));
      const pooled = await predictSources([], sources, o, pool);
      assert.deepEqual([...pooled.keys()], sources.map((s) => s.id), 'in the sources\' order');
      for (const [id, preds] of pooled) {
        assert.ok(preds.every((p) => p.maskString === encodeMaskString(p.rle)), id);
        assert.deepEqual(preds.map(({ maskString: _, ...p }) => p), inline.get(id), `${id}, context ${o.context}, ${o.ensemble}`);
      }
    }
    const notSquare = { id: 'wide', load: async () => ({ width: 8, height: 4, data: new Uint8Array(96) }) };
    await assert.rejects(predictSources([], [...sources.slice(0, 3), notSquare, ...sources.slice(3)], opts, pool), /image is 8x4, expected a square tile/);
    // The pool still works after a failed tile.
    assert.equal((await predictSources([], sources.slice(0, 1), opts, pool)).size, 1);
  } finally {
    await pool.close();
    for (const r of onnx) await r.dispose();
  }
});

test('tiles load one ahead of the network, in order, and a failed load fails the run with its own error', async () => {
  const ds = await loadDataset(data);
  const events: string[] = [];
  const runtime = new TfjsRuntime(models[0]!, 128);
  // The same runtime, noting each forward pass.
  const noting: Runtime = Object.assign(Object.create(runtime) as Runtime, {
    run: (...args: Parameters<Runtime['run']>) => { events.push('forward'); return runtime.run(...args); },
  });
  const runtimes = [noting];
  const opts = { ...DEFAULT_PREDICT, imgsz: 128, maxDet: 20, conf: 1e-4 };
  const ids = ds.tiles.slice(0, 3).map((t) => t.id);
  const sources = ids.map((id) => ({ id, load: async () => { events.push(`load ${id}`); return readTileImage(ds, id); } }));
  const pool = new FinishPool(0);
  await predictSources(runtimes, sources, opts, pool, (id) => events.push(`done ${id}`));
  // Tile 1 is loading before tile 0's forward pass starts; the loads themselves stay in order.
  assert.ok(events.indexOf(`load ${ids[1]}`) < events.indexOf('forward'), events.join(', '));
  assert.deepEqual(events.filter((e) => e.startsWith('load')), ids.map((id) => `load ${id}`));
  const broken = [sources[0]!, { id: 'missing', load: () => Promise.reject(new Error('missing.tif: no such file')) }, sources[2]!];
  await assert.rejects(predictSources(runtimes, broken, opts, pool), /missing\.tif: no such file/);
});

test('--context: predictions come from the larger canvas, clipped to the tile', async () => {
  const ds = await loadDataset(data);
  const image = await readTileImage(ds, ds.tiles[0]!.id);
  const runtimes = models.map((m) => new TfjsRuntime(m, 128));
  const opts = { ...DEFAULT_PREDICT, imgsz: 128, maxDet: 100, conf: 1e-4, context: 128 };
  const preds = await predictTile(runtimes.slice(1), image, opts);
  assert.ok(preds.length > 0);
  for (const p of preds) {
    assert.equal(p.rle.width, 512);
    assert.ok(p.box.every((v) => v >= 0 && v <= 512), `box ${p.box} inside the tile`);
  }
  const plain = await predictTile(runtimes.slice(1), image, { ...opts, context: 0 });
  assert.notDeepEqual(preds.map((p) => p.score), plain.map((p) => p.score), 'context changes what the model sees');
});

test('vascseg predict writes every format; the Kaggle file passes its own check', async () => {
  const run = (format: string, out: string) => vascseg('predict', '--weights', join(root, 'fold0'), join(root, 'fold1'), '--source', data, '--split', 'train', '--format', format, '--out', out, '--max-det', '20', '--conf', '0.0001', '--context', '32');
  const csv = join(root, 'sub.csv');
  const r = await run('kaggle', csv);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /12 tiles, \d+ vessels \(2 models nms, imgsz 128, onnx, tta none, context 32/);
  const parsed = parseSubmission(await readFile(csv, 'utf8'), csv);
  assert.deepEqual(parsed.issues, []);
  assert.equal(parsed.tiles.length, 12);
  assert.equal((await vascseg('eval', '--data', data, '--pred', csv)).code, 1, 'tiles without labels are unknown to eval: an error, as specified');
  // The labelled tiles only: the submission passes its check and scores.
  const ds = await loadDataset(data);
  const ids = join(root, 'labelled.txt');
  await writeFile(ids, [...ds.labels.keys()].join('\n'));
  const labelled = join(root, 'labelled.csv');
  const p = await vascseg('predict', '--weights', join(root, 'fold0'), join(root, 'fold1'), '--ensemble', 'wsf', '--source', data, '--split', 'train', '--ids', ids, '--out', labelled, '--conf', '0.0001');
  assert.equal(p.code, 0, p.stderr);
  const check = await vascseg('submission', 'check', labelled);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, new RegExp(`${ds.labels.size} rows`));
  const scored = await vascseg('eval', '--data', data, '--pred', labelled);
  assert.equal(scored.code, 0, scored.stderr);
  assert.match(scored.stdout, /AP@0\.6: \d\.\d{6}/);
  const coco = join(root, 'p.json');
  assert.equal((await run('coco', coco)).code, 0);
  assert.equal(fromCocoResults(JSON.parse(await readFile(coco, 'utf8')), coco).length, 12);
  for (const format of ['geojson', 'labels', 'overlay']) {
    const dir = join(root, format);
    assert.equal((await run(format, dir)).code, 0, format);
    assert.equal((await readdir(dir)).length, 12, format);
  }
  const first = (await readdir(join(root, 'labels')))[0]!;
  const png = await fromLabelPng(await readFile(join(root, 'labels', first)));
  assert.ok(png.masks.length > 0 && png.masks.length <= 20);
  const bad = await vascseg('predict', '--weights', join(root, 'nope'), '--source', data);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /nope\/model\.json: checkpoint not found/);
});
