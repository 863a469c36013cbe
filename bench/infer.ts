/**
 * npm run bench:infer [-- --size tiny --imgsz 640 --tiles 12 --runtimes onnx,tfjs
 *   --weights CHECKPOINT --data DATASET] — tiles per second of `predict` per runtime, with the time split into
 * image decoding, preprocessing, forward, boxes (decoding and NMS), ensemble, the kept instances' masks, post-processing
 * (threshold, largest component, RLE) and submission encoding; plus the bare onnxruntime forward
 * on the same inputs, and end-to-end time as a ratio of it. Without `--weights` the model is
 * freshly initialised with mask biases that give every one of the seed's 300 candidates per
 * tile (conf 0.001) a large mask: the worst case for post-processing. Without `--data` the
 * tiles are the synthetic tiny preset's. With `--models N`, every tile goes through an ensemble of N
 * copies of the model (N forwards, one NMS over the pooled N x 300 candidates), as a fold
 * ensemble would.
 *
 * The finishing-worker line also gives the CPU time per tile of all the process's threads (the
 * work itself, less noisy than the wall time on a shared machine) and how many cores it kept busy;
 * `--worker-threads N` sets that path's onnxruntime threads (default: the cores the worker leaves).
 * `--forward-ways yes` adds the bare forward on one thread, with two tiles per forward, and as
 * two one-thread sessions at once in two worker threads.
 * The last line: `--tile-workers N` worker threads (default: one per core, 0: not run) that each
 * hold one-thread sessions of the model(s) and predict whole tiles, what `vascseg predict` does
 * with onnxruntime on the CPU.
 *
 * With `--yolov7 PATH` (a clone of the official YOLOv7-seg, branch u7) and a model of the
 * official architecture (`--size full` or a width such as `--size w0.125`, or such a
 * checkpoint), the same weights (exported as the official state dict) and tiles also go
 * through the official predict path (bench/official_run.py: cv2 read, letterbox, forward,
 * non_max_suppression, process_mask, the resize back, RLE) with as many torch threads as
 * cores, and the line `official predict` compares it with ours end to end.
 */
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupBackend, tf } from '../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../src/model/yolov7seg.ts';
import { TfModel } from '../src/model/tfjs.ts';
import { exportOnnx } from '../src/onnx/export.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { OnnxRuntime, TfjsRuntime, type Runtime } from '../src/infer/runtime.ts';
import { weightArrays } from '../src/model/tfjs.ts';
import { DEFAULT_PREDICT, newTimings, predictTile } from '../src/infer/predict.ts';
import { imageToInput } from '../src/infer/preprocess.ts';
import { FinishPool } from '../src/infer/finish-pool.ts';
import { predictSources } from '../src/infer/tiles.ts';
import { tilePredictions } from '../src/infer/outputs.ts';
import { formatSubmission } from '../src/eval/submission.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { presetConfig } from '../src/synth/config.ts';
import { imagePath, loadDataset, readTileImage } from '../src/data/dataset.ts';
import { exportOfficial } from '../src/model/official.ts';
import { writeSafetensors } from '../src/model/formats/safetensors.ts';
import type { RgbImage } from '../src/data/images.ts';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const size = argOf('--size', 'tiny');
const imgsz = Number(argOf('--imgsz', '640'));
const tileCount = Number(argOf('--tiles', '12'));
const runtimes = argOf('--runtimes', 'onnx,tfjs').split(',');
const weights = argOf('--weights', '');
const dataDir = argOf('--data', '');
const official = argOf('--yolov7', '');
/** Models in the ensemble: the same weights N times (a fold ensemble's cost: N forwards, a pool of N x 300 candidates, one NMS over it). */
const modelCount = Number(argOf('--models', '1'));
/** onnxruntime threads on the finishing-worker path (default: the cores the worker leaves, as `vascseg predict` does). */
const workerPathThreads = Number(argOf('--worker-threads', String(Math.max(1, availableParallelism() - 1))));

await setupBackend('auto', { quiet: true });
const dir = await mkdtemp(join(tmpdir(), 'bench-infer-'));
if (!dataDir) await generateDataset(presetConfig('tiny', 0), join(dir, 'data'), { workers: 0 });
const ds = await loadDataset(dataDir || join(dir, 'data'));
const ids = [...ds.images.train].sort().slice(0, tileCount);

const loaded = weights ? await loadCheckpoint(weights) : null;
const config = loaded?.meta.config ?? modelConfig(size);
const model = loaded?.model ?? new TfModel(buildYolov7Seg(config), config, 1);
// Positive mask coefficients and prototypes, so instances have masks to post-process.
if (!weights) tf.tidy(() => {
  model.weights.get('head.proto.cv3.gamma')!.assign(tf.zeros([config.masks]));
  model.weights.get('head.proto.cv3.beta')!.assign(tf.ones([config.masks]));
  for (let level = 0; level < 3; level++) {
    const bias = model.weights.get(`head.detect${level}.bias`)!;
    const values = Float32Array.from(bias.dataSync());
    for (let a = 0; a < 3; a++) for (let c = 0; c < config.masks; c++) values[a * 40 + 8 + c] = 0.2;
    bias.assign(tf.tensor1d(values));
  }
});
const onnxBytes = exportOnnx(model.graph, weightArrays(model), { format: 'vascseg-yolov7-seg-onnx/1', config, imgsz, epoch: 0, metrics: {} });

const ms = (v: number) => `${v.toFixed(1)} ms`;
console.log(`predict: ${ids.length} tiles, model ${weights || `${size} (untrained)`}, imgsz ${imgsz}, conf ${DEFAULT_PREDICT.conf}, max-det ${DEFAULT_PREDICT.maxDet}, post lcc; times per tile`);

// Bare onnxruntime forward on the same inputs: the floor predict is measured against.
const bare = await OnnxRuntime.create(onnxBytes, config, imgsz);
const images: RgbImage[] = [];
for (const id of ids) images.push(await readTileImage(ds, id));
const inputs = images.map((img) => imageToInput(img, imgsz));
await bare.run(inputs[0]!, 1, imgsz);
let t = performance.now();
for (const x of inputs) await bare.run(x, 1, imgsz);
const bareForward = (performance.now() - t) / inputs.length;
await bare.dispose();
console.log(`bare onnxruntime forward: ${ms(bareForward)}`);
if (argOf('--forward-ways', 'no') === 'yes') await forwardWays();
/** What end to end is measured against: one bare forward per model of the ensemble. */
const floor = bareForward * modelCount;
const floorName = modelCount === 1 ? 'the bare ONNX forward' : `${modelCount} bare ONNX forwards`;

let baseline = 0;
/** Ours end to end per tile: `predictSources` with its finishing worker (what `vascseg predict` does). */
let ourEndToEnd = Number.NaN;
for (const name of runtimes) {
  const runtime: Runtime = name === 'onnx' ? await OnnxRuntime.create(onnxBytes, config, imgsz) : new TfjsRuntime(model, imgsz);
  const ensemble = Array.from({ length: modelCount }, () => runtime);
  await predictTile(ensemble, images[0]!, { ...DEFAULT_PREDICT, imgsz }); // warm-up
  const timings = newTimings();
  let decode = 0, encode = 0, vessels = 0;
  const start = performance.now();
  for (const id of ids) {
    let s = performance.now();
    const image = await readTileImage(ds, id);
    decode += performance.now() - s;
    const preds = await predictTile(ensemble, image, { ...DEFAULT_PREDICT, imgsz }, undefined, timings);
    s = performance.now();
    formatSubmission([tilePredictions(id, preds)]);
    encode += performance.now() - s;
    vessels += preds.length;
  }
  const total = (performance.now() - start) / ids.length;
  if (!baseline) baseline = total;
  const n = ids.length;
  const parts = [['image decode', decode], ['preprocess', timings.preprocess], ['forward', timings.forward], ['boxes', timings.decode], ['ensemble', timings.ensemble], ['masks', timings.masks], ['post', timings.post], ['csv', encode]] as const;
  console.log(`${name}: ${(1000 / total).toFixed(2)} tiles/s (${ms(total)} per tile, ${(total / baseline).toFixed(2)}x the first runtime, ${(total / floor).toFixed(2)}x ${floorName}; ${(vessels / n).toFixed(0)} vessels per tile)`);
  console.log(`  ${parts.map(([k, v]) => `${k} ${ms(v / n)} (${((100 * v) / n / total).toFixed(0)}%)`).join(', ')}`);
  if (name === 'onnx') {
    // The same tiles through `predictSources` with masks and post-processing in one worker
    // thread, overlapping the next tile's forward pass (what `vascseg predict` does with tfjs,
    // and did with onnxruntime until the tile workers). One onnxruntime thread: the worker thread takes the other core.
    const single = await OnnxRuntime.create(onnxBytes, config, imgsz, { threads: workerPathThreads });
    // As `vascseg predict --format kaggle`: the workers also encode the masks' submission strings.
    const pool = new FinishPool(1, undefined, true);
    const viaWorker = await timePool(Array.from({ length: modelCount }, () => single), pool, 2);
    ourEndToEnd = viaWorker.perTile;
    await pool.close();
    await single.dispose();
    console.log(`onnx (${workerPathThreads} thread${workerPathThreads === 1 ? '' : 's'}) + 1 finishing worker thread: ${poolLine(viaWorker)}`);
    // Whole tiles in worker threads, each with its own one-thread sessions (what `vascseg predict` does by default with onnxruntime).
    const tileWorkers = Number(argOf('--tile-workers', String(availableParallelism())));
    if (tileWorkers > 0) {
      const networks = Array.from({ length: modelCount }, () => ({ model: onnxBytes, config, imgsz }));
      const tilePool = await FinishPool.withNetworks(tileWorkers, networks, undefined, true);
      const viaTiles = await timePool([], tilePool, 2 * tileWorkers);
      await tilePool.close();
      ourEndToEnd = Math.min(ourEndToEnd, viaTiles.perTile);
      console.log(`onnx in ${tileWorkers} tile worker threads (1 onnxruntime thread each): ${poolLine(viaTiles)}`);
    }
    await runtime.dispose();
  }
}

/**
 * The tiles through `predictSources` with `pool`, writing each tile's submission rows, after
 * `warm` tiles of warm-up (the workers' start, loading the TypeScript modules, is not per-tile
 * work). The CPU time is every thread's of the process (onnxruntime's, the workers', libuv's
 * decoding) per tile: the work, whatever else the machine runs.
 */
async function timePool(runtimes: Runtime[], pool: FinishPool, warm: number): Promise<{ perTile: number; cpuPerTile: number; vessels: number }> {
  const sources = (list: string[]) => list.map((id) => ({ id, load: () => readTileImage(ds, id) }));
  const opts = { ...DEFAULT_PREDICT, imgsz };
  await predictSources(runtimes, sources(ids.slice(0, warm)), opts, pool);
  const start = performance.now();
  const cpu = process.cpuUsage();
  let vessels = 0;
  await predictSources(runtimes, sources(ids), opts, pool, (id, _img, preds) => {
    formatSubmission([tilePredictions(id, preds)]);
    vessels += preds.length;
  });
  const used = process.cpuUsage(cpu);
  return { perTile: (performance.now() - start) / ids.length, cpuPerTile: (used.user + used.system) / 1000 / ids.length, vessels: vessels / ids.length };
}

/** One path's line: throughput, time and CPU per tile, against the floor. */
function poolLine({ perTile, cpuPerTile, vessels }: { perTile: number; cpuPerTile: number; vessels: number }): string {
  return `${(1000 / perTile).toFixed(2)} tiles/s (${ms(perTile)} per tile, ${(perTile / floor).toFixed(2)}x ${floorName}; ${vessels.toFixed(0)} vessels per tile; CPU ${ms(cpuPerTile)} per tile, ${(cpuPerTile / perTile).toFixed(2)} cores busy)`;
}

// ---- The official predict path on the same weights and tiles ---------------------------------
if (official) {
  if (modelCount !== 1) throw new Error('--yolov7 compares one model: leave out --models');
  if (config.size !== 'full' && !config.size.startsWith('w')) throw new Error(`--yolov7: a ${config.size} model has no official counterpart; give --size full or a width such as w0.125`);
  const weightsFile = join(dir, 'official.safetensors');
  await writeSafetensors(weightsFile, exportOfficial(weightArrays(model), model.graph, config), { format: 'pt', producer: 'vascseg', classes: config.classes.join(','), size: config.size });
  const listing = join(dir, 'tiles.txt');
  await writeFile(listing, ids.map((id) => imagePath(ds, id)!).join('\n') + '\n');
  const threads = availableParallelism();
  const r = spawnSync('/usr/bin/python3', [new URL('./official_run.py', import.meta.url).pathname, 'predict', official, weightsFile, listing, join(dir, 'official.json'),
    String(imgsz), String(DEFAULT_PREDICT.conf), String(DEFAULT_PREDICT.iou), String(DEFAULT_PREDICT.maxDet), String(threads)], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('timings '));
  if (r.status !== 0 || !line) {
    console.error(`official predict failed: ${(r.stderr || r.stdout).slice(-2000)}`);
  } else {
    const phases = JSON.parse(line.slice(8)) as Record<string, number>;
    const perTile = Object.values(phases).reduce((a, b) => a + b, 0);
    const found = r.stdout.match(/(\d+) instances/)?.[1];
    console.log(`official predict (${threads} torch threads): ${ms(perTile)} per tile (${Object.entries(phases).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}; ${found ? (Number(found) / ids.length).toFixed(0) : '?'} vessels per tile); ours end to end is ${(ourEndToEnd / perTile).toFixed(2)}x its time`);
  }
}
model.dispose();
await rm(dir, { recursive: true, force: true });

/**
 * `--forward-ways yes`: the bare forward over the same inputs (channels first, as the workers
 * feed it) on one onnxruntime thread, two tiles per forward on one thread, and two one-thread
 * sessions forwarding at once in two worker threads: what the tile workers rest on.
 */
async function forwardWays(): Promise<void> {
  const nchw = images.map((img) => imageToInput(img, imgsz, 'none', undefined, 'nchw'));
  const one = await OnnxRuntime.create(onnxBytes, config, imgsz, { threads: 1 });
  await one.run(nchw[0]!, 1, imgsz, 'nchw');
  let start = performance.now();
  for (const x of nchw) await one.run(x, 1, imgsz, 'nchw');
  const single = (performance.now() - start) / nchw.length;
  const pairs: Float32Array[] = [];
  for (let k = 0; k + 1 < nchw.length; k += 2) { const p = new Float32Array(2 * nchw[k]!.length); p.set(nchw[k]!); p.set(nchw[k + 1]!, nchw[k]!.length); pairs.push(p); }
  await one.run(pairs[0]!, 2, imgsz, 'nchw');
  start = performance.now();
  for (const p of pairs) await one.run(p, 2, imgsz, 'nchw');
  const batched = (performance.now() - start) / (2 * pairs.length);
  await one.dispose();
  // Two plain workers, each with a one-thread session, forwarding half the tiles at the same time.
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const ort = require('onnxruntime-node');
    (async () => {
      const s = await ort.InferenceSession.create(workerData.model, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
      const feed = (x) => ({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, workerData.size, workerData.size]) });
      await s.run(feed(workerData.inputs[0]));
      parentPort.postMessage('ready');
      parentPort.once('message', async () => { for (const x of workerData.inputs) await s.run(feed(x)); parentPort.postMessage('done'); });
    })();`;
  const halves = [nchw.filter((_, k) => k % 2 === 0), nchw.filter((_, k) => k % 2 === 1)];
  const workers = halves.map((inputs) => new Worker(source, { eval: true, workerData: { model: onnxBytes, size: imgsz, inputs } }));
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); })));
  start = performance.now();
  await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage('go'); })));
  const twoAtOnce = (performance.now() - start) / nchw.length;
  await Promise.all(workers.map((w) => w.terminate()));
  console.log(`bare forward ways: 1 thread ${ms(single)}; 1 thread, 2 tiles per forward ${ms(batched)} per tile; 2 one-thread sessions at once in 2 worker threads ${ms(twoAtOnce)} per tile (${(twoAtOnce / bareForward).toFixed(2)}x the two-thread forward)`);
}
