import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadDataset, type Dataset } from '../data/dataset.ts';
import { setupBackend } from '../engine/backend.ts';
import { lockDirectory } from '../util/fs.ts';
import { formatSubmission } from '../eval/submission.ts';
import { tilePredictions } from '../infer/outputs.ts';
import type { Prediction } from '../infer/predict.ts';
import { loadHiddenTruth, pseudoQuality, selectPseudoLabels, summarize, writePseudoDataset, type PseudoSummary, type PseudoTile } from '../pseudo/pseudo.ts';
import { DEFAULT_TRAIN } from '../train/trainer.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { PipelineConfig } from './config.ts';
import { foldWeights, planStages, stageFolds, type Stage, type TrainStage } from './stages.ts';
import { predictOptions } from './models.ts';
import { evaluateStages, type PipelineSummary, type PredictRequest } from './evaluate.ts';
import { fmtSeconds as fmt, type Executor } from '../jobs/executor.ts';
import { jobId, readPredictions, type PredictJob, type PredictPart, type TrainJob } from '../jobs/jobs.ts';

export interface PipelineOptions {
  data: string;
  config: PipelineConfig;
  name: string;
  project: string;
  /** Where the stages' jobs run: child processes here (LocalExecutor) or a job queue's workers. */
  executor: Executor;
  log: (line: string) => void;
}

/** What a finished stage leaves: `done.json`, written last and atomically. */
interface DoneMarker {
  hash: string;
  seconds: number;
  finishedAt: string;
}

const sha = (value: unknown) => createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex').slice(0, 16);

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
  private readonly data: string;

  constructor(private readonly opts: PipelineOptions) {
    // Absolute: jobs carry their paths to workers, which may run anywhere the run directory is mounted.
    this.root = resolve(opts.project, opts.name);
    this.data = resolve(opts.data);
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
    this.source = await loadDataset(this.data, { strict: true });
    const data = await dataHash(this.data);
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

  /** A job of a stage: its id is unique over every pipeline that shares a queue. */
  private jobBase(stage: string, label: string) {
    const stageHash = this.hashes.get(stage)!;
    return { id: jobId({ root: this.root, stage, label, stageHash }), label, stageDir: this.dir(stage), stageHash };
  }

  private trainStage(stage: TrainStage, tag: string): Promise<void> {
    const c = this.opts.config;
    const data = stage.data === 'source' ? this.data : join(this.dir(stage.data), 'data');
    const jobs = stageFolds(stage, c).map((fold): TrainJob => ({
      ...this.jobBase(stage.name, `fold${fold}`),
      kind: 'train',
      options: {
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
        init: stage.init ? foldWeights(this.dir(stage.init), 0) : c.init ? resolve(c.init) : undefined,
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
      },
    }));
    return this.opts.executor.run(jobs, tag, this.opts.log);
  }

  /**
   * Predict through the executor: each request becomes one job per shard (the executor says
   * how many), and the answers come back in the order asked, one map per part.
   */
  private async predict(stage: string, tag: string, split: 'train' | 'test', requests: PredictRequest[], minScore?: number): Promise<Map<string, Prediction[]>[][]> {
    const opts = predictOptions(this.opts.config);
    const jobs: PredictJob[][] = requests.map((r) => {
      const tiles = r.parts.reduce((n, p) => n + p.ids.length, 0);
      const shards = Math.max(1, Math.min(tiles, this.opts.executor.predictShards(tiles)));
      return Array.from({ length: shards }, (_, k): PredictJob => {
        const label = shards > 1 ? `${r.label} shard ${k + 1}/${shards}` : r.label;
        // Shard k takes every shards-th tile of each part, so shards stay even across parts.
        const parts: PredictPart[] = r.parts.map((p) => ({ weights: p.weights, ids: p.ids.filter((_, i) => i % shards === k) }));
        return { ...this.jobBase(stage, label), kind: 'predict', data: this.data, split, opts, parts, minScore, tiles: parts.reduce((n, p) => n + p.ids.length, 0), out: join(this.dir(stage), 'jobs', `${label.replace(/[^\w.-]+/g, '-')}.json`) };
      });
    });
    await this.opts.executor.run(jobs.flat(), tag, this.opts.log);
    const answers: Map<string, Prediction[]>[][] = [];
    for (const [r, shards] of jobs.entries()) {
      const merged = requests[r]!.parts.map(() => new Map<string, Prediction[]>());
      for (const job of shards) (await readPredictions(job)).forEach((m, p) => { for (const [id, v] of m) merged[p]!.set(id, v); });
      // Back in the order the request listed its tiles.
      answers.push(merged.map((m, p) => new Map(requests[r]!.parts[p]!.ids.map((id) => [id, m.get(id)!]))));
    }
    return answers;
  }

  private foldModels(stage: string, folds: readonly number[]): string[] {
    return folds.map((f) => foldWeights(this.dir(stage), f));
  }

  private async pseudoStage(stage: Extract<Stage, { kind: 'pseudo' }>, tag: string): Promise<void> {
    const c = this.opts.config;
    const modelStage = this.stages.find((s) => s.name === stage.models) as TrainStage;
    const tiles = this.source.tiles.filter((t) => c.pseudo.datasets.includes(t.dataset) && this.source.images.train.has(t.id));
    const weights = this.foldModels(modelStage.name, stageFolds(modelStage, c));
    // Only instances above pseudo.conf can become labels, so only those are kept.
    const [[preds]] = await this.predict(stage.name, tag, 'train', [{ label: 'pseudo-label', parts: [{ weights, ids: tiles.map((t) => t.id) }] }], c.pseudo.conf);
    const pseudo: PseudoTile[] = [];
    for (const t of tiles) {
      const p = selectPseudoLabels(t.id, preds!.get(t.id)!, c.pseudo);
      if (p) pseudo.push(p);
    }
    const summary: PseudoSummary = summarize(tiles, pseudo);
    const truth = await loadHiddenTruth(this.data);
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
    // The submission covers test/ when the layout has one; otherwise the unlabelled tiles of train/.
    const split = this.source.images.test.size > 0 ? 'test' : 'train';
    const ids = split === 'test'
      ? [...this.source.images.test].sort()
      : this.source.tiles.filter((t) => t.dataset === 3 && this.source.images.train.has(t.id)).map((t) => t.id).sort();
    const [[preds]] = await this.predict(stage.name, tag, split, [{ label: 'predict', parts: [{ weights: this.foldModels(stage.models, c.ensembleFolds), ids }] }]);
    const csv = formatSubmission(ids.map((id) => tilePredictions(id, preds!.get(id)!)));
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
    const summary = await evaluateStages({ root: this.root, data: this.data, source: this.source, config: this.opts.config, stages: this.stages, stageSeconds, log: (l) => this.opts.log(`${tag} ${l}`), predict: (requests) => this.predict('evaluate', tag, 'train', requests) });
    await writeFileAtomic(join(this.dir('evaluate'), 'summary.json'), JSON.stringify(summary, null, 2));
    await writeFileAtomic(join(this.root, 'summary.json'), JSON.stringify(summary, null, 2));
    await writeFileAtomic(join(this.root, 'summary.md'), summary.markdown);
  }
}

export async function runPipeline(opts: PipelineOptions): Promise<PipelineSummary> {
  return new Pipeline(opts).run();
}
