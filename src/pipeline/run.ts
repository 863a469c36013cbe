import { createHash } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadDataset, type Dataset } from '../data/dataset.ts';
import { setupBackend } from '../engine/backend.ts';
import { lockDirectory } from '../util/fs.ts';
import { formatSubmission } from '../eval/submission.ts';
import { predictTiles } from '../infer/tiles.ts';
import { tilePredictions } from '../infer/outputs.ts';
import { loadHiddenTruth, pseudoQuality, selectPseudoLabels, summarize, writePseudoDataset, type PseudoSummary, type PseudoTile } from '../pseudo/pseudo.ts';
import { DEFAULT_TRAIN, type TrainOptions } from '../train/trainer.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { PipelineConfig } from './config.ts';
import type { JobMessage } from './job.ts';
import { foldWeights, planStages, stageFolds, type Stage, type TrainStage } from './stages.ts';
import { closeAll, openFolds, predictOptions } from './models.ts';
import { evaluateStages, type PipelineSummary } from './evaluate.ts';
import { pathExists } from '../util/fs.ts';

export interface PipelineOptions {
  data: string;
  config: PipelineConfig;
  name: string;
  project: string;
  /** Training jobs (folds) run at once, each in its own process; the cores are shared out between them. */
  workers: number;
  log: (line: string) => void;
}

/** What a finished stage leaves: `done.json`, written last and atomically. */
interface DoneMarker {
  hash: string;
  seconds: number;
  finishedAt: string;
}

const sha = (value: unknown) => createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex').slice(0, 16);
const fmt = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

/** Identity of the input data: labels and metadata by content, images by name and size. */
async function dataHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of ['tile_meta.csv', 'wsi_meta.csv', 'polygons.jsonl', 'truth/polygons.jsonl']) {
    h.update(f);
    h.update(await readFile(join(dir, f)).catch(() => Buffer.from('-')));
  }
  // The folds split the stages train on; hashed only when present, so runs without one keep their hashes.
  const folds = await readFile(join(dir, 'folds.csv')).catch(() => null);
  if (folds) h.update(folds);
  for (const split of ['train', 'test']) {
    const names = (await readdir(join(dir, split)).catch(() => [] as string[])).sort();
    for (const n of names) h.update(`${split}/${n}:${(await stat(join(dir, split, n))).size}`);
  }
  return h.digest('hex').slice(0, 16);
}

/** The settings a stage's result depends on (so changing, say, predict.conf does not retrain). */
function stageSettings(stage: Stage, c: PipelineConfig): unknown {
  // `init` joins the hash only when set, so runs without it keep their hashes.
  // The trainer's own recipe (augmentation, clipping, loss gains, ...) joins too: a release that
  // changes a default retrains instead of reusing stages trained the old way.
  const { augment, clipGrad, gains, maskTarget, warmupMinIters, nbs, lrf, momentum, weightDecay, warmupEpochs, cosine } = DEFAULT_TRAIN;
  const recipe = { augment, clipGrad, gains, maskTarget, warmupMinIters, nbs, lrf, momentum, weightDecay, warmupEpochs, cosine };
  const training = { model: c.model, imgsz: c.imgsz, batch: c.batch, optimizer: c.optimizer, lr0: c.lr0, folds: c.folds, foldSeed: c.foldSeed, seed: c.seed, preciseBn: c.preciseBn, recipe, ...(c.init ? { init: c.init } : {}) };
  switch (stage.kind) {
    case 'train': return { stage, training };
    case 'pseudo': return { stage, pseudo: c.pseudo, predict: c.predict, imgsz: c.imgsz, folds: c.folds };
    case 'predict': return { stage, predict: c.predict, imgsz: c.imgsz, ensembleFolds: c.ensembleFolds };
    case 'evaluate': return { stage, predict: c.predict, imgsz: c.imgsz, ensembleFolds: c.ensembleFolds, folds: c.folds, foldSeed: c.foldSeed };
  }
}

class Pipeline {
  readonly root: string;
  private readonly stages: Stage[];
  private readonly hashes = new Map<string, string>();
  private source!: Dataset;

  constructor(private readonly opts: PipelineOptions) {
    this.root = join(opts.project, opts.name);
    this.stages = planStages(opts.config);
  }

  private dir(stage: string): string {
    return join(this.root, stage);
  }

  async run(): Promise<PipelineSummary> {
    const { log, config } = this.opts;
    const release = await lockDirectory(this.root, 'vascseg pipeline');
    try {
      return await this.runLocked(log, config);
    } finally {
      await release();
    }
  }

  private async runLocked(log: (line: string) => void, config: PipelineConfig): Promise<PipelineSummary> {
    // Checkpoints load through tfjs before they are exported to onnxruntime.
    await setupBackend('auto', { quiet: true });
    await writeFileAtomic(join(this.root, 'config.json'), JSON.stringify(config, null, 2));
    this.source = await loadDataset(this.opts.data, { strict: true });
    const data = await dataHash(this.opts.data);
    for (const s of this.stages) this.hashes.set(s.name, sha({ data, settings: stageSettings(s, config), deps: s.deps.map((d) => this.hashes.get(d)) }));
    const started = Date.now();
    for (const [k, stage] of this.stages.entries()) {
      const tag = `[${k + 1}/${this.stages.length} ${stage.name}]`;
      const hash = this.hashes.get(stage.name)!;
      const doneFile = join(this.dir(stage.name), 'done.json');
      const done = JSON.parse(await readFile(doneFile, 'utf8').catch(() => 'null')) as DoneMarker | null;
      if (done?.hash === hash) {
        log(`${tag} done earlier (${fmt(done.seconds)}), inputs and settings unchanged: skipped`);
        continue;
      }
      // Work of another configuration in the way is removed; our own unfinished work is resumed.
      const marker = join(this.dir(stage.name), 'stage.json');
      const previous = JSON.parse(await readFile(marker, 'utf8').catch(() => 'null')) as { hash: string } | null;
      if (previous && previous.hash !== hash) await rm(this.dir(stage.name), { recursive: true, force: true });
      await mkdir(this.dir(stage.name), { recursive: true });
      await writeFileAtomic(marker, JSON.stringify({ hash, stage }, null, 2));
      log(`${tag} ${stage.title}${previous?.hash === hash ? ' (resuming)' : ''}`);
      const t0 = Date.now();
      await this.runStage(stage, tag);
      const seconds = (Date.now() - t0) / 1000;
      await writeFileAtomic(doneFile, JSON.stringify({ hash, seconds, finishedAt: new Date().toISOString() } satisfies DoneMarker, null, 2));
      log(`${tag} finished in ${fmt(seconds)} (pipeline ${fmt((Date.now() - started) / 1000)} so far)`);
    }
    return JSON.parse(await readFile(join(this.dir('evaluate'), 'summary.json'), 'utf8')) as PipelineSummary;
  }

  private async runStage(stage: Stage, tag: string): Promise<void> {
    switch (stage.kind) {
      case 'train': return this.trainStage(stage, tag);
      case 'pseudo': return this.pseudoStage(stage, tag);
      case 'predict': return this.predictStage(stage, tag);
      case 'evaluate': return this.evaluateStage(tag);
    }
  }

  private trainStage(stage: TrainStage, tag: string): Promise<void> {
    const c = this.opts.config;
    const data = stage.data === 'source' ? this.opts.data : join(this.dir(stage.data), 'data');
    const jobs = stageFolds(stage, c).map((fold): TrainOptions => ({
      ...DEFAULT_TRAIN,
      data,
      project: this.dir(stage.name),
      name: `fold${fold}`,
      trainDatasets: stage.trainDatasets,
      fold,
      folds: c.folds,
      foldSeed: c.foldSeed,
      // Pretraining runs are single jobs saved as fold0.
      // Stages that start from scratch start from the config's `init` when it names weights.
      init: stage.init ? foldWeights(this.dir(stage.init), 0) : c.init,
      imgsz: c.imgsz,
      epochs: stage.epochs,
      batch: c.batch,
      model: c.model,
      optimizer: c.optimizer,
      lr0: c.lr0,
      seed: c.seed,
      preciseBn: c.preciseBn,
      // The evaluate stage scores every model; validating each epoch would only cost time.
      valInterval: stage.epochs,
      resume: false,
    }));
    return runJobs(jobs, this.opts.workers, tag, this.opts.log);
  }

  private async pseudoStage(stage: Extract<Stage, { kind: 'pseudo' }>, tag: string): Promise<void> {
    const c = this.opts.config;
    const modelStage = this.stages.find((s) => s.name === stage.models) as TrainStage;
    const models = await openFolds(this.root, modelStage, c);
    const tiles = this.source.tiles.filter((t) => c.pseudo.datasets.includes(t.dataset) && this.source.images.train.has(t.id));
    let last = Date.now();
    const preds = await predictTiles(models.map((m) => m.runtime), this.source, tiles.map((t) => t.id), 'train', predictOptions(c), (done, total) => {
      if (Date.now() - last > 10_000 || done === total) { this.opts.log(`${tag} predicted ${done}/${total} tiles`); last = Date.now(); }
    });
    await closeAll(models);
    const pseudo: PseudoTile[] = [];
    for (const t of tiles) {
      const p = selectPseudoLabels(t.id, preds.get(t.id)!, c.pseudo);
      if (p) pseudo.push(p);
    }
    const summary: PseudoSummary = summarize(tiles, pseudo);
    const truth = await loadHiddenTruth(this.opts.data);
    if (truth) summary.quality = pseudoQuality(pseudo, truth);
    await writePseudoDataset(join(this.dir(stage.name), 'data'), this.source, pseudo);
    await writeFileAtomic(join(this.dir(stage.name), 'summary.json'), JSON.stringify(summary, null, 2));
    const q = summary.quality ? `; against the hidden truth: precision ${summary.quality.precision.toFixed(3)}, recall ${summary.quality.recall.toFixed(3)}` : '';
    this.opts.log(`${tag} kept ${summary.tilesKept}/${summary.tilesPredicted} tiles, ${summary.instances} instances${q}`);
    if (summary.tilesKept < Math.max(4, c.batch)) {
      this.opts.log(`${tag} warning: only ${summary.tilesKept} tiles passed (instances > ${c.pseudo.conf}, tile mean > ${c.pseudo.tileConf}); the models are not yet confident enough for pretraining on their labels to help. Train the fine-tuning stages longer or lower pseudo.conf / pseudo.tileConf.`);
    }
  }

  private async predictStage(stage: Extract<Stage, { kind: 'predict' }>, tag: string): Promise<void> {
    const c = this.opts.config;
    const modelStage = this.stages.find((s) => s.name === stage.models) as TrainStage;
    const models = await openFolds(this.root, modelStage, c, c.ensembleFolds);
    // The submission covers test/ when the layout has one; otherwise the unlabelled tiles of train/.
    const split = this.source.images.test.size > 0 ? 'test' : 'train';
    const ids = split === 'test'
      ? [...this.source.images.test].sort()
      : this.source.tiles.filter((t) => t.dataset === 3 && this.source.images.train.has(t.id)).map((t) => t.id).sort();
    const preds = await predictTiles(models.map((m) => m.runtime), this.source, ids, split, predictOptions(c));
    await closeAll(models);
    const csv = formatSubmission(ids.map((id) => tilePredictions(id, preds.get(id)!)));
    await writeFileAtomic(join(this.dir('predict'), 'submission.csv'), csv);
    await writeFileAtomic(join(this.dir('predict'), 'predict.json'), JSON.stringify({ split, tiles: ids.length, folds: c.ensembleFolds, models: stage.models }, null, 2));
    this.opts.log(`${tag} ${ids.length} ${split === 'test' ? 'test' : 'dataset-3'} tiles: ${join(this.dir('predict'), 'submission.csv')}`);
  }

  private async evaluateStage(tag: string): Promise<void> {
    const stageSeconds = new Map<string, number>();
    for (const s of this.stages) {
      const d = JSON.parse(await readFile(join(this.dir(s.name), 'done.json'), 'utf8').catch(() => 'null')) as DoneMarker | null;
      if (d) stageSeconds.set(s.name, d.seconds);
    }
    const summary = await evaluateStages({ root: this.root, data: this.opts.data, source: this.source, config: this.opts.config, stages: this.stages, stageSeconds, log: (l) => this.opts.log(`${tag} ${l}`) });
    await writeFileAtomic(join(this.dir('evaluate'), 'summary.json'), JSON.stringify(summary, null, 2));
    await writeFileAtomic(join(this.root, 'summary.json'), JSON.stringify(summary, null, 2));
    await writeFileAtomic(join(this.root, 'summary.md'), summary.markdown);
  }
}

/**
 * Run training jobs, `workers` at a time, each in a child process (tfjs-wasm uses one core
 * per process, so folds in parallel use the machine). A fold that finished earlier (its
 * `job-done.json`) is skipped; one with a `last` checkpoint resumes; one without starts clean.
 */
async function runJobs(jobs: TrainOptions[], workers: number, tag: string, log: (line: string) => void): Promise<void> {
  const queue: TrainOptions[] = [];
  for (const job of jobs) {
    const dir = join(job.project, job.name);
    if (await pathExists(join(dir, 'job-done.json'))) { log(`${tag} ${job.name} done earlier: skipped`); continue; }
    if (await pathExists(join(dir, 'weights', 'last', 'model.json'))) queue.push({ ...job, resume: true });
    else {
      await rm(dir, { recursive: true, force: true });
      queue.push(job);
    }
  }
  const total = queue.length;
  const parallel = Math.max(1, Math.min(workers, total));
  // A lone job (pretraining) gets every core; jobs side by side share them.
  const threads = Math.max(1, Math.floor(availableParallelism() / parallel));
  let finished = 0;
  const epochTimes: number[] = [];
  const runOne = async (job: TrainOptions): Promise<void> => {
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const child = fork(new URL('./job-entry.mjs', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      let failure: string | null = null;
      child.on('message', (m: JobMessage) => {
        if (m.type === 'log') {
          const s = /\| ([\d.]+) s/.exec(m.line);
          if (s) epochTimes.push(Number(s[1]));
          const perEpoch = epochTimes.length ? epochTimes.reduce((a, b) => a + b, 0) / epochTimes.length : 0;
          const left = total * job.epochs - epochTimes.length;
          const eta = perEpoch > 0 ? ` | stage ETA ${fmt((Math.max(0, left) * perEpoch) / Math.min(workers, total - finished))}` : '';
          log(`${tag} ${job.name} ${m.line}${eta}`);
        }
        if (m.type === 'error') failure = m.message;
      });
      child.on('exit', (code) => {
        if (code === 0 && !failure) resolve();
        else reject(new Error(`${tag} ${job.name} failed: ${failure ?? `exit code ${code}`}`));
      });
      child.send({ ...job, threads });
    });
    await writeFileAtomic(join(job.project, job.name, 'job-done.json'), JSON.stringify({ seconds: (Date.now() - started) / 1000 }));
    finished++;
  };
  const pool = Array.from({ length: parallel }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await runOne(job);
  });
  await Promise.all(pool);
}

export async function runPipeline(opts: PipelineOptions): Promise<PipelineSummary> {
  return new Pipeline(opts).run();
}
