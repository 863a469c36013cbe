import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { tf } from '../engine/backend.ts';
import { loadDataset, readTileImage, type Dataset } from '../data/dataset.ts';
import type { MaskTarget, Neighbour } from './augment.ts';
import { expertFolds } from '../data/folds.ts';
import { TILE_SIZE } from '../data/types.ts';
import { buildYolov7Seg, modelConfig, CLASSES, type ModelConfig } from '../model/yolov7seg.ts';
import { foldBatchStats, modelInput, TfModel } from '../model/tfjs.ts';
import type { EngineName, TrainEngine } from './engine.ts';
import { OnnxTrainEngine } from './onnx-engine.ts';
import { TfjsTrainEngine } from './tfjs-engine.ts';
import { plainWeights, tensorsOf, toPlain, trainableWeights, writePlainWeights } from './weights.ts';
import { loadCheckpoint, readCheckpointMeta, saveCheckpoint } from '../model/checkpoint.ts';
import { initFromOfficial, isOfficialWeights } from '../model/import.ts';
import { Rng } from '../util/random.ts';
import { recoverDir, writeFileAtomic } from '../util/atomic.ts';
import { faultPoint } from '../util/fault.ts';
import { DEFAULT_AUGMENT, loadTrainTiles, makeBatch, NO_AUGMENT, type AugmentConfig, type TrainBatch, type TrainTile } from './data.ts';
import { BatchPool } from './batch-pool.ts';
import { defaultHyp, lossOnArrays, type LossGains } from './loss.ts';
import { accumulateGradients, accumulationAt, AdamW, clipGlobalNorm, Ema, interp, lrFactor, Sgd, type ParamGroup } from './optim.ts';
import { validate, type ValidationResult } from './validate.ts';
import { claimRunDir, pathExists } from '../util/fs.ts';

export interface TrainOptions {
  data: string;
  name: string;
  project: string;
  /** Dataset numbers (tile_meta.csv) whose labelled tiles train. */
  trainDatasets: number[];
  /** Hold out this fold of the expert tiles (dataset 1) for validation; without it, validate on the training tiles. */
  fold?: number;
  folds: number;
  foldSeed: number;
  init?: string;
  imgsz: number;
  epochs: number;
  batch: number;
  model: string;
  /** `auto`: AdamW for short runs, SGD for long ones (see `chooseOptimizer`). */
  optimizer: 'auto' | 'sgd' | 'adamw';
  /** Initial learning rate; without it, the chosen optimizer's default. */
  lr0?: number;
  lrf: number;
  momentum: number;
  weightDecay: number;
  warmupEpochs: number;
  cosine: boolean;
  /** Nominal batch: gradients accumulate to it (YOLO uses 64; the default here is the batch, no accumulation). */
  nbs?: number;
  /** Warm-up lasts at least this many batches (the official code: 100), whatever `warmupEpochs` gives. */
  warmupMinIters?: number;
  /** Clip the gradient's global L2 norm to this before each update (the official code: 10); 0 or absent: no clipping. */
  clipGrad?: number;
  /** Loss gains before scaling (hyp box, obj, cls); absent: hyp.scratch-high's. */
  gains?: LossGains;
  augment: AugmentConfig;
  seed: number;
  resume: boolean;
  /**
   * Batches of training tiles (un-augmented) used to recompute the BN statistics of the model
   * that is validated and saved, before each validation ("precise BN"). 0 (the default) keeps
   * YOLO's running averages, as the official code (side by side, the difference was noise).
   */
  preciseBn: number;
  /** Validate every this many epochs (and after the last); epochs in between log no AP. */
  valInterval: number;
  /** With `resume`: train to this many epochs instead of the saved number (the schedule stretches). */
  extendTo?: number;
  /** What computes gradients: generated ONNX graphs on onnxruntime (fast), or tfjs autograd. */
  engine: EngineName;
  /** onnxruntime threads of the onnx engine (0: every core). */
  threads?: number;
  /** Mask targets: the official 0/1 masks (the default) or each prototype cell's coverage; absent (runs saved before): coverage. */
  maskTarget?: MaskTarget;
  /** Worker threads that make the next batches while the step runs (0: inline). Never changes the result. */
  workers?: number;
}

export const DEFAULT_TRAIN: Omit<TrainOptions, 'data' | 'name'> = {
  project: join('runs', 'train'), trainDatasets: [1], folds: 5, foldSeed: 0, imgsz: 640, epochs: 100, batch: 4, model: 'tiny',
  optimizer: 'auto', lrf: 0.01, momentum: 0.937, weightDecay: 5e-4, warmupEpochs: 3, cosine: false, augment: DEFAULT_AUGMENT, seed: 0, resume: false, valInterval: 1, engine: 'onnx',
  // The official YOLOv7-seg recipe (README, "Side by side with the official YOLOv7-seg"):
  // gradient clipping (without it nothing was learnt), and where bench:official could not tell
  // the difference from the noise, the official choice: its warm-up floor, hyp.scratch-low's
  // loss gains, its 0/1 mask targets, no precise BN.
  warmupMinIters: 100, clipGrad: 10, gains: { box: 0.05, obj: 1.0, cls: 0.5 }, maskTarget: 'official', preciseBn: 0, workers: 0,
};

export interface EpochRecord {
  epoch: number;
  box: number;
  obj: number;
  cls: number;
  seg: number;
  ap60: number;
  cocoAp: number;
  lr: number;
  seconds: number;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  losses: { box: number; obj: number; cls: number; seg: number };
}

export interface TrainResult {
  runDir: string;
  best: { epoch: number; ap60: number };
  history: EpochRecord[];
}


/** Split the dataset into training and validation tiles; clear errors before any work starts. */
async function selectTiles(opts: TrainOptions): Promise<{ train: TrainTile[]; val: TrainTile[]; valIsTrain: boolean }> {
  const ds = await loadDataset(opts.data);
  const labelled = ds.tiles.filter((t) => ds.labels.has(t.id));
  let trainIds = labelled.filter((t) => opts.trainDatasets.includes(t.dataset)).map((t) => t.id);
  if (trainIds.length === 0) throw new Error(`${opts.data}: no labelled tiles in dataset(s) ${opts.trainDatasets.join(', ')}: the training set is empty`);
  let valIds: string[] = [];
  if (opts.fold !== undefined) {
    if (opts.fold < 0 || opts.fold >= opts.folds) throw new Error(`--fold ${opts.fold} is outside 0..${opts.folds - 1}`);
    const expert = labelled.filter((t) => t.dataset === 1);
    const folds = expertFolds(ds, opts.folds, opts.foldSeed);
    valIds = expert.filter((t) => folds.get(t.id) === opts.fold).map((t) => t.id);
    if (valIds.length === 0) throw new Error(`fold ${opts.fold} of ${opts.folds} holds no dataset-1 tiles`);
    const held = new Set(valIds);
    trainIds = trainIds.filter((id) => !held.has(id));
    if (trainIds.length === 0) throw new Error(`fold ${opts.fold}: every training tile is held out`);
  }
  const train = await loadTrainTiles(ds, trainIds);
  const val = valIds.length > 0 ? await loadTrainTiles(ds, valIds) : train;
  if (opts.augment.stitch > 0) await attachNeighbours(ds, train, new Set(trainIds), new Set(valIds));
  return { train, val, valIsTrain: valIds.length === 0 };
}

/**
 * For `--stitch`: each training tile's 3x3 slide neighbourhood by `i, j`. Neighbours that train
 * bring their labels; other labelled or unlabelled tiles bring pixels only (no loss there);
 * held-out validation tiles are left out entirely so no fold sees another's pixels.
 */
async function attachNeighbours(ds: Dataset, tiles: TrainTile[], trainIds: Set<string>, heldOut: Set<string>): Promise<void> {
  const at = new Map(ds.tiles.map((t) => [`${t.sourceWsi}:${t.i}:${t.j}`, t]));
  const cache = new Map<string, Neighbour>();
  for (const tile of tiles) {
    const meta = ds.tileById.get(tile.id)!;
    const grid: (Neighbour | null)[][] = [];
    for (let dy = -1; dy <= 1; dy++) {
      const row: (Neighbour | null)[] = [];
      for (let dx = -1; dx <= 1; dx++) {
        const n = at.get(`${meta.sourceWsi}:${meta.i + dx * TILE_SIZE}:${meta.j + dy * TILE_SIZE}`);
        if (!n || heldOut.has(n.id) || !ds.images.train.has(n.id)) { row.push(null); continue; }
        let entry = cache.get(n.id);
        if (!entry) {
          entry = { pixels: (await readTileImage(ds, n.id)).data, annotations: trainIds.has(n.id) ? ds.labels.get(n.id) ?? [] : null };
          cache.set(n.id, entry);
        }
        row.push(entry);
      }
      grid.push(row);
    }
    tile.neighbours = grid;
  }
}

function csvOf(history: EpochRecord[]): string {
  return stringify(history.map((h) => [h.epoch, h.box, h.obj, h.cls, h.seg, h.ap60, h.cocoAp, h.lr, h.seconds]), {
    header: true,
    columns: ['epoch', 'train/box_loss', 'train/obj_loss', 'train/cls_loss', 'train/seg_loss', 'val/ap60', 'val/coco_mask_ap', 'lr', 'seconds'],
  });
}

async function writeRunTables(runDir: string, history: EpochRecord[]): Promise<void> {
  await writeFileAtomic(join(runDir, 'results.csv'), csvOf(history));
  await writeFileAtomic(join(runDir, 'history.json'), JSON.stringify(history));
}

/**
 * The run's model config: a resumed run keeps its checkpoint's (padding included), a run
 * initialised from one of our checkpoints takes that checkpoint's padding (a `same`-padded
 * model fine-tuned goes on padding `same`), a new model gets `modelConfig`'s.
 */
async function runConfig(opts: TrainOptions, last: string): Promise<ModelConfig> {
  const fresh = modelConfig(opts.model, CLASSES);
  const from = opts.resume ? last : opts.init && !isOfficialWeights(opts.init) ? opts.init : null;
  if (!from) {
    if (opts.init && !(await pathExists(opts.init))) throw new Error(`--init ${opts.init}: not found; expected a checkpoint directory, or official weights (.pt, .safetensors)`);
    return fresh;
  }
  const meta = await readCheckpointMeta(from);
  return { ...fresh, padding: meta.config.padding };
}

/** `VASCSEG_TIMINGS=1`: each epoch logs where a batch's time went (waiting for the batch, the step, the update, the EMA). */
const TIMINGS = Boolean(process.env.VASCSEG_TIMINGS);

function lap<K extends string>(timings: Record<K, number>, key: K, since: number): number {
  const now = performance.now();
  timings[key] += now - since;
  return now;
}

/** Updates at or below which `optimizer: auto` takes AdamW (Ultralytics' rule and threshold). */
export const AUTO_SGD_MIN_UPDATES = 10_000;
const SGD_LR0 = 0.01;

/**
 * `--optimizer auto`, as Ultralytics' `optimizer=auto`: YOLO's SGD (lr0 0.01) needs thousands
 * of updates; a short run (a few tiles, a few dozen epochs) with it learns nothing (measured:
 * 10 tiles, 30 epochs, 90 updates, AP@0.6 0.0001 on its own training tiles). So runs of at most
 * 10,000 updates take AdamW at Ultralytics' fitted rate 0.002 * 5 / (4 + classes); longer runs
 * (the seed's full recipe) keep SGD. An explicit --optimizer or --lr0 wins.
 */
export function chooseOptimizer(optimizer: TrainOptions['optimizer'], lr0: number | undefined, updates: number, classes: number): { optimizer: 'sgd' | 'adamw'; lr0: number; why: string } {
  const adamLr = Math.round((0.002 * 5 / (4 + classes)) * 1e6) / 1e6;
  if (optimizer === 'sgd') return { optimizer, lr0: lr0 ?? SGD_LR0, why: 'as asked' };
  if (optimizer === 'adamw') return { optimizer, lr0: lr0 ?? adamLr, why: 'as asked' };
  if (updates > AUTO_SGD_MIN_UPDATES) return { optimizer: 'sgd', lr0: lr0 ?? SGD_LR0, why: `auto: ${updates} updates > ${AUTO_SGD_MIN_UPDATES}, YOLO's SGD` };
  return { optimizer: 'adamw', lr0: lr0 ?? adamLr, why: `auto: ${updates} updates <= ${AUTO_SGD_MIN_UPDATES}, too few for SGD; AdamW at 0.002 x 5 / (4 + ${classes} classes)` };
}

/** Recompute a model's BN statistics from forward passes over up to `batches` batches of training tiles. */
function recalibrateBn(model: TfModel, tiles: readonly TrainTile[], batchSize: number, imgsz: number, batches: number, protoSize: number): void {
  model.resetRunningStats();
  const rng = new Rng(0);
  for (let b = 0; b < Math.min(batches, Math.ceil(tiles.length / batchSize)); b++) {
    const batch = makeBatch(tiles.slice(b * batchSize, (b + 1) * batchSize), protoSize, NO_AUGMENT, rng);
    tf.tidy(() => { model.forward(modelInput(batch.images, batch.count, imgsz), true); });
    model.updateRunningStats();
  }
}

/**
 * Train a YOLOv7-seg model as YOLOv5/7-seg do: SGD (Nesterov, momentum 0.937) with warm-up,
 * linear or cosine decay, EMA of weights, validation each epoch on the competition metric,
 * `results.csv`, `weights/last` and `weights/best` (chosen on AP@0.6), resumable.
 */
export async function train(options: TrainOptions, onProgress?: (p: TrainProgress) => void, log: (line: string) => void = () => {}): Promise<TrainResult> {
  let opts = options;
  if (!Number.isInteger(opts.epochs) || opts.epochs < 1) throw new Error(`epochs must be a whole number >= 1, got ${opts.epochs}`);
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new Error(`batch must be a whole number >= 1, got ${opts.batch}`);
  // A new run claims its directory only once its input has been checked (below).
  let runDir = join(opts.project, opts.name);
  let last = join(runDir, 'weights', 'last');
  if (opts.resume) {
    await recoverDir(last);
    await recoverDir(join(runDir, 'weights', 'best'));
    if (!(await pathExists(join(last, 'model.json')))) throw new Error(`${last}: nothing to resume (no checkpoint)`);
    const saved = JSON.parse(await readFile(join(runDir, 'args.json'), 'utf8')) as TrainOptions;
    opts = { ...saved, resume: true, epochs: options.extendTo ?? saved.epochs };
    if (options.extendTo !== undefined) await writeFileAtomic(join(runDir, 'args.json'), JSON.stringify({ ...saved, epochs: options.extendTo }, null, 2));
  }
  const { train: tiles, val, valIsTrain } = await selectTiles(opts);
  if (valIsTrain) log('no --fold given: validating on the training tiles');
  const config = await runConfig(opts, last);
  if (opts.optimizer === 'auto' || opts.lr0 === undefined) {
    const updatesPerEpoch = Math.ceil(Math.ceil(tiles.length / opts.batch) / Math.max(1, Math.round((opts.nbs ?? opts.batch) / opts.batch)));
    const chosen = chooseOptimizer(opts.optimizer, opts.lr0, updatesPerEpoch * opts.epochs, config.classes.length);
    log(`optimizer: ${chosen.optimizer} lr0 ${chosen.lr0} (${chosen.why})`);
    opts = { ...opts, optimizer: chosen.optimizer, lr0: chosen.lr0 };
  }
  const lr0 = opts.lr0!;
  if (!opts.resume) {
    runDir = await claimRunDir(runDir);
    last = join(runDir, 'weights', 'last');
  }
  const model = new TfModel(buildYolov7Seg(config), config, opts.seed);
  const ema = new TfModel(buildYolov7Seg(config), config, opts.seed);
  let startEpoch = 0;
  let history: EpochRecord[] = [];
  let best = { epoch: -1, ap60: -1 };
  let updates = 0;
  let bnUpdates = 0;
  const nbs = opts.nbs ?? opts.batch;
  const accumulate = Math.max(1, Math.round(nbs / opts.batch));
  // As YOLO: the decay is per nominal batch, so it scales with the batch actually accumulated.
  const weightDecay = opts.weightDecay * (opts.batch * accumulate) / nbs;

  if (opts.init && !opts.resume && isOfficialWeights(opts.init)) {
    for (const line of await initFromOfficial(model, opts.init)) log(line);
  } else if (opts.init && !opts.resume) {
    const init = await loadCheckpoint(opts.init);
    if (init.meta.config.size !== config.size || init.meta.config.classes.join() !== config.classes.join()) {
      throw new Error(`--init ${opts.init}: a ${init.meta.config.size} model of classes ${init.meta.config.classes.join(', ')}, this run trains a ${config.size} model of ${config.classes.join(', ')}`);
    }
    for (const [name, v] of init.model.weights) model.weights.get(name)!.assign(v);
    init.model.dispose();
  }
  // The run's state lives in plain arrays (kernels OIHW), updated in place: the raw weights
  // (running statistics included), their EMA, the optimiser's moments.
  const weights = plainWeights(model);
  const params = trainableWeights(model, weights);
  const sgd = new Sgd(params, opts.momentum, weightDecay);
  const adam = opts.optimizer === 'adamw' ? new AdamW(params, opts.momentum, 0.999, weightDecay) : null;
  if (opts.resume) {
    const ck = await loadCheckpoint(last);
    for (const [name, v] of ck.model.weights) ema.weights.get(name)!.assign(v);
    const into = (arrays: Map<string, Float32Array> | undefined, name: string, t: tf.Tensor) => arrays?.get(name)!.set(toPlain(t));
    for (const [name, t] of ck.extra) {
      if (name.startsWith('raw/')) into(weights, name.slice(4), t);
      if (name.startsWith('velocity/')) into(sgd.velocity, name.slice(9), t);
      if (name.startsWith('adam-m/')) into(adam?.m, name.slice(7), t);
      if (name.startsWith('adam-v/')) into(adam?.v, name.slice(7), t);
    }
    ck.model.dispose();
    const state = ck.meta.state as { updates: number; bnUpdates: number; adamSteps: number; best: { epoch: number; ap60: number }; history?: EpochRecord[] };
    updates = state.updates;
    if (adam) adam.t = state.adamSteps;
    bnUpdates = state.bnUpdates;
    best = state.best;
    startEpoch = ck.meta.epoch + 1;
    if (options.extendTo !== undefined && options.extendTo <= startEpoch) throw new Error(`--epochs ${options.extendTo}: ${runDir} has already trained ${startEpoch} epochs; give more to train on`);
    // Checkpoints written before the history rode in them: history.json, cut to the checkpoint.
    history = state.history ?? (JSON.parse(await readFile(join(runDir, 'history.json'), 'utf8')) as EpochRecord[]).slice(0, ck.meta.epoch + 1);
    await writeRunTables(runDir, history);
    log(`resuming ${runDir} at epoch ${startEpoch}`);
  } else {
    writePlainWeights(ema, weights);
    await mkdir(join(runDir, 'weights'), { recursive: true });
    await writeFileAtomic(join(runDir, 'args.json'), JSON.stringify(opts, null, 2));
  }
  const shadow = plainWeights(ema);
  const emaTracker = new Ema(shadow);
  emaTracker.updates = updates;

  const nb = Math.ceil(tiles.length / opts.batch);
  // No warm-up at all with --warmup-epochs 0, whatever the floor.
  const nw = opts.warmupEpochs > 0 ? Math.max(Math.round(opts.warmupEpochs * nb), opts.warmupMinIters ?? 0) : 0;
  const hyp = defaultHyp(config.classes.length, opts.imgsz, opts.gains);
  let lastStep = startEpoch * nb - 1;
  const protoSize = opts.imgsz / 4;
  // Runs saved before engines existed trained with tfjs.
  const engine: TrainEngine = (opts.engine ?? 'tfjs') === 'onnx' ? new OnnxTrainEngine(model.graph, opts.imgsz, opts.threads ?? 0) : new TfjsTrainEngine(model);

  const timings = { batch: 0, step: 0, update: 0, ema: 0 };
  const batches = new BatchPool({ tiles, protoSize, augment: opts.augment, maskTarget: opts.maskTarget ?? 'coverage', seed: opts.seed }, opts.workers ?? 0);
  const ahead = 2 * batches.size;

  // Workers keep the process alive: whatever ends the loop (a divergence, a full disk) closes them.
  try {
    for (let epoch = startEpoch; epoch < opts.epochs; epoch++) {
      const started = performance.now();
      const rng = Rng.of(opts.seed, epoch, 0x7a);
      const order = [...tiles.keys()];
      for (let k = order.length - 1; k > 0; k--) { const r = rng.int(0, k); [order[k], order[r]] = [order[r]!, order[k]!]; }
      const jobs = Array.from({ length: nb }, (_, b) => ({ epoch, index: b, tiles: order.slice(b * opts.batch, (b + 1) * opts.batch) }));
      const requested: Promise<TrainBatch>[] = [];
      const requestUpTo = (b: number) => { while (requested.length <= Math.min(b, nb - 1)) requested.push(batches.request(jobs[requested.length]!)); };
      const sums = { box: 0, obj: 0, cls: 0, seg: 0 };
      const lf = lrFactor(epoch, opts.epochs, opts.lrf, opts.cosine);
      let lr: Record<ParamGroup, number> = { weights: lr0 * lf, norm: lr0 * lf, bias: lr0 * lf };
      let pending: Map<string, Float32Array> | null = null;
      let accumulating = accumulate;
      for (let b = 0; b < nb; b++) {
        const ni = b + nb * epoch;
        if (nw > 0 && ni <= nw) {
          // Warm-up: biases from 0.1 down, the rest up from 0; momentum from 0.8 up; the
          // accumulation from 1 batch up to the nominal batch (as the official code).
          lr = { weights: interp(ni, 0, nw, 0, lr0 * lf), norm: interp(ni, 0, nw, 0, lr0 * lf), bias: interp(ni, 0, nw, 0.1, lr0 * lf) };
          sgd.momentum = interp(ni, 0, nw, 0.8, opts.momentum);
          accumulating = accumulationAt(ni, nw, nbs / opts.batch);
        } else {
          sgd.momentum = opts.momentum;
          accumulating = accumulate;
        }
        let mark = performance.now();
        requestUpTo(b + ahead); // inline (no workers), this makes the batch
        const batch = await requested[b]!;
        mark = lap(timings, 'batch', mark);
        const input = modelInput(batch.images, batch.count, opts.imgsz);
        const { parts, grads, stats } = await engine.step(weights, input, (out) => lossOnArrays(out, batch, config, hyp));
        input.dispose();
        if (!parts.every(Number.isFinite)) {
          await Promise.allSettled(requested);
          await batches.close();
          await engine.dispose();
          model.dispose();
          ema.dispose();
          const [box, obj, cls, seg] = parts.map((v) => v.toPrecision(4));
          const kept = (await pathExists(join(last, 'model.json'))) ? `; ${last} holds the last finished epoch` : '';
          throw new Error(`training diverged: the loss is not finite at epoch ${epoch + 1}, batch ${b + 1} (box ${box}, obj ${obj}, cls ${cls}, seg ${seg}); lower the learning rate (--lr0, now ${lr0})${kept}`);
        }
        if (pending) accumulateGradients(pending, grads);
        else pending = grads;
        foldBatchStats(weights, stats, ++bnUpdates);
        sums.box += parts[0]!; sums.obj += parts[1]!; sums.cls += parts[2]!; sums.seg += parts[3]!;
        // An update once `accumulating` batches are in, and at the end of each epoch (no
        // computed gradient is thrown away; the official code drops the epoch's remainder).
        mark = lap(timings, 'step', mark);
        if (ni - lastStep >= accumulating || b === nb - 1) {
          lastStep = ni;
          if (opts.clipGrad) clipGlobalNorm(pending!, opts.clipGrad);
          if (adam) adam.step(pending!, lr);
          else sgd.step(pending!, lr);
          pending = null;
          mark = lap(timings, 'update', mark);
          emaTracker.update(weights);
          lap(timings, 'ema', mark);
        }
        onProgress?.({ epoch, epochs: opts.epochs, batch: b + 1, batches: nb, losses: { box: sums.box / (b + 1), obj: sums.obj / (b + 1), cls: sums.cls / (b + 1), seg: sums.seg / (b + 1) } });
      }
      const imagesPerSecond = tiles.length / ((performance.now() - started) / 1000);
      if (TIMINGS) {
        const perBatch = (parts: Record<string, number>) => Object.entries(parts).map(([k, v]) => `${k} ${(v / nb).toFixed(1)} ms`).join(', ');
        log(`  timings, epoch ${epoch + 1}: ${perBatch(timings)} per batch (batch: waiting for it); the step's ${perBatch(engine.phases)}`);
        engine.resetPhases();
      }
      for (const key of Object.keys(timings) as (keyof typeof timings)[]) timings[key] = 0;
      const validating = (epoch + 1) % Math.max(1, opts.valInterval) === 0 || epoch === opts.epochs - 1;
      writePlainWeights(ema, shadow);
      if (validating && opts.preciseBn > 0) {
        recalibrateBn(ema, tiles, opts.batch, opts.imgsz, opts.preciseBn, protoSize);
        // The EMA goes on from the recalibrated statistics.
        for (const [name, v] of ema.weights) if (!v.trainable) shadow.get(name)!.set(toPlain(v));
      }
      const metrics: ValidationResult = validating ? validate(ema, val, opts.imgsz) : { ap60: Number.NaN, cocoAp: Number.NaN, detections: 0 };
      const record: EpochRecord = {
        epoch, box: sums.box / nb, obj: sums.obj / nb, cls: sums.cls / nb, seg: sums.seg / nb,
        ap60: metrics.ap60, cocoAp: metrics.cocoAp, lr: lr.weights, seconds: (performance.now() - started) / 1000,
      };
      history.push(record);
      const fitness = Number.isNaN(metrics.ap60) ? -1 : metrics.ap60;
      const isBest = validating && fitness > best.ap60;
      if (isBest) best = { epoch, ap60: fitness };
      const extra = new Map([
        ...tensorsOf(model, weights, 'raw/'), ...tensorsOf(model, sgd.velocity, 'velocity/'),
        ...(adam ? [...tensorsOf(model, adam.m, 'adam-m/'), ...tensorsOf(model, adam.v, 'adam-v/')] : []),
      ]);
      // weights/last is the commit point of an epoch: it carries the whole history, so a kill
      // before results.csv and history.json are rewritten loses nothing (resume rewrites them);
      // best is written first, so a kill between the two only repeats this epoch.
      const meta = { imgsz: opts.imgsz, epoch, metrics: { ap60: metrics.ap60, coco_mask_ap: metrics.cocoAp }, state: { updates: emaTracker.updates, bnUpdates, adamSteps: adam?.t ?? 0, best, history } };
      try {
        if (isBest) await saveCheckpoint(join(runDir, 'weights', 'best'), ema, meta);
        await saveCheckpoint(last, ema, meta, extra);
      } finally {
        tf.dispose([...extra.values()]);
      }
      faultPoint('train:saved');
      await writeRunTables(runDir, history);
      const valText = validating ? ` | val AP@0.6 ${metrics.ap60.toFixed(4)} COCO ${metrics.cocoAp.toFixed(4)} (${metrics.detections} vessels detected)` : '';
      log(`epoch ${epoch + 1}/${opts.epochs}: box ${record.box.toFixed(4)} obj ${record.obj.toFixed(4)} cls ${record.cls.toFixed(4)} seg ${record.seg.toFixed(4)}${valText} | ${imagesPerSecond.toFixed(1)} img/s, ${record.seconds.toFixed(1)} s${isBest ? ' | best' : ''}`);
    }
  } finally {
    await batches.close();
  }
  await engine.dispose();
  model.dispose();
  ema.dispose();
  return { runDir, best, history };
}
