/**
 * A unit of work of the pipeline (or of `vascseg slide`), as a self-contained description any executor can run on any
 * machine that mounts the run directory at the same path: the verb, its settings, its input
 * and output paths (absolute), and the hash of the stage it belongs to.
 *
 * `executeJob` is the one way a job runs, whoever runs it (today's child processes, or a
 * `vascseg worker` that took it from the queue): a finished job is skipped, a training job
 * with a `last` checkpoint resumes, outputs are written atomically and last.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset, type Split } from '../data/dataset.ts';
import { openRuntime, type Runtime } from '../infer/runtime.ts';
import { predictTiles } from '../infer/tiles.ts';
import type { Prediction, PredictOptions } from '../infer/predict.ts';
import { runSlide, type SlideSettings } from '../slide/run.ts';
import { train, type TrainOptions } from '../train/trainer.ts';
import { rleFromString, rleToString } from '../eval/rle.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { pathExists } from '../util/fs.ts';

interface JobBase {
  /** Unique over every pipeline sharing a queue: derived from the run directory, stage hash and label. */
  id: string;
  /** How logs name it: `fold0`, `shard 2/4`, `oof finetune-ds1`. */
  label: string;
  /** The stage's directory (absolute) and hash: a worker checks it sees `stage.json` with this hash. */
  stageDir: string;
  stageHash: string;
}

/** Train one fold (or one pretraining run) into `options.project/options.name`. */
export interface TrainJob extends JobBase {
  kind: 'train';
  options: TrainOptions;
}

/** Models (checkpoint directories, an ensemble when several) and the tiles they predict. */
export interface PredictPart {
  weights: string[];
  ids: string[];
}

/** Predict tiles of a dataset; `out` receives one list of [id, predictions] per part. */
export interface PredictJob extends JobBase {
  kind: 'predict';
  data: string;
  split: Split;
  opts: PredictOptions;
  parts: PredictPart[];
  out: string;
  /** Predictions scoring below this are not kept (pseudo-labelling reads only those above its conf). */
  minScore?: number;
  /** A total for progress lines: the tiles over all parts. */
  tiles: number;
}

/** One whole slide (`vascseg slide` over a queue): its `stageDir` is the slide's output directory. */
export interface SlideJob extends JobBase {
  kind: 'slide';
  /** The weights as the user named them (the run's hash is over these) and as absolute paths. */
  weights: string[];
  weightFiles: string[];
  image: string;
  settings: SlideSettings;
  batch: number;
  /** Worker threads that finish windows. */
  finishers: number;
}

export type PipelineJob = TrainJob | PredictJob | SlideJob;

/** What a job's process is told: the job and the onnxruntime threads it may use. */
export interface JobRequest {
  job: PipelineJob;
  threads: number;
}

export type JobMessage =
  | { type: 'log'; line: string }
  | { type: 'done' }
  | { type: 'error'; message: string };

/** A job's id from what makes it unique (its run directory, stage hash, label): the same job gets the same id on every start. */
export function jobId(identity: unknown): string {
  return `vascseg-${createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16)}`;
}

const trainDir = (job: TrainJob) => join(job.options.project, job.options.name);
export const jobDoneFile = (job: TrainJob) => join(trainDir(job), 'job-done.json');

/** Whether a job's result is already on disk (then running it again would only redo it). */
export async function jobFinished(job: PipelineJob): Promise<boolean> {
  return pathExists(job.kind === 'train' ? jobDoneFile(job) : job.kind === 'predict' ? job.out : join(job.stageDir, 'summary.json'));
}

/** The file that says a job's directory is the one its submitter prepared, with its hash. */
const markerFile = (job: PipelineJob) => join(job.stageDir, job.kind === 'slide' ? 'slide-run.json' : 'stage.json');

/**
 * Why a worker cannot run this job here, or null: it must see the directory its submitter
 * prepared (a stage's `stage.json`, a slide run's `slide-run.json`, with the job's hash), or it
 * would train on nothing and write where no one looks.
 */
export async function jobInvisible(job: PipelineJob): Promise<string | null> {
  const marker = markerFile(job);
  const stage = JSON.parse(await readFile(marker, 'utf8').catch(() => 'null')) as { hash?: string } | null;
  const why = !stage ? `${marker} is not there` : stage.hash !== job.stageHash ? `${marker} belongs to another configuration (hash ${stage.hash}, the job's ${job.stageHash})` : null;
  if (!why) return null;
  return `${job.label}: this machine cannot see the job's run directory (${why}); a worker must mount the run directories at the same paths as the machine that queued the job (a shared filesystem such as NFS)`;
}

/** Run a job to the end in this process. */
export async function executeJob(job: PipelineJob, threads: number, log: (line: string) => void): Promise<void> {
  if (await jobFinished(job)) return;
  if (job.kind === 'train') return executeTrain(job, threads, log);
  if (job.kind === 'predict') return executePredict(job, threads, log);
  return executeSlide(job, threads, log);
}

async function executeSlide(job: SlideJob, threads: number, log: (line: string) => void): Promise<void> {
  const runtimes: Runtime[] = [];
  let last = Date.now();
  try {
    for (const w of job.weightFiles) runtimes.push(await openRuntime(w, 'onnx', { threads }));
    const r = await runSlide(job.weights, runtimes, job.image, job.stageDir, job.settings, job.finishers, job.batch, (p) => {
      if (Date.now() - last > 10_000 || p.done === p.total) { log(`${p.done}/${p.total} windows`); last = Date.now(); }
    }, log);
    log(`${r.vessels} vessels: wrote ${r.outputs.join(', ')}`);
  } finally {
    for (const r of runtimes) await r.dispose();
  }
}

async function executeTrain(job: TrainJob, threads: number, log: (line: string) => void): Promise<void> {
  const started = Date.now();
  const dir = trainDir(job);
  // A fold with a checkpoint continues from it (after a crash, or on another worker after one
  // died); one without starts clean.
  const resume = await pathExists(join(dir, 'weights', 'last', 'model.json'));
  if (resume) log(`resuming from ${join(dir, 'weights', 'last')}`);
  else await rm(dir, { recursive: true, force: true });
  await train({ ...job.options, resume, threads }, undefined, log);
  await writeFileAtomic(jobDoneFile(job), JSON.stringify({ seconds: (Date.now() - started) / 1000 }));
}

/** Predictions as JSON, masks as COCO's compressed RLE strings (a few times smaller than count arrays). */
type StoredPrediction = Omit<Prediction, 'rle'> & { rle: { height: number; width: number; counts: string } };

async function executePredict(job: PredictJob, threads: number, log: (line: string) => void): Promise<void> {
  const ds = await loadDataset(job.data, { strict: true });
  const runtimes = new Map<string, Runtime>();
  const out: [string, StoredPrediction[]][][] = [];
  let done = 0;
  let last = Date.now();
  try {
    for (const part of job.parts) {
      for (const w of part.weights) if (!runtimes.has(w)) runtimes.set(w, await openRuntime(w, 'onnx', { threads }));
      const preds = await predictTiles(part.weights.map((w) => runtimes.get(w)!), ds, part.ids, job.split, job.opts, () => {
        done++;
        if (Date.now() - last > 10_000 || done === job.tiles) { log(`predicted ${done}/${job.tiles} tiles`); last = Date.now(); }
      });
      const kept = (id: string) => preds.get(id)!.filter((p) => p.score >= (job.minScore ?? -Infinity));
      out.push(part.ids.map((id) => [id, kept(id).map((p) => ({ ...p, rle: { height: p.rle.height, width: p.rle.width, counts: rleToString(p.rle.counts) } }))]));
    }
  } finally {
    for (const r of runtimes.values()) await r.dispose();
  }
  await writeFileAtomic(job.out, JSON.stringify(out));
}

/** A predict job's output: one map of tile predictions per part. */
export async function readPredictions(job: PredictJob): Promise<Map<string, Prediction[]>[]> {
  const stored = JSON.parse(await readFile(job.out, 'utf8')) as [string, StoredPrediction[]][][];
  return stored.map((part) => new Map(part.map(([id, ps]) => [id, ps.map((p) => ({ ...p, rle: rleFromString(p.rle.counts, p.rle.height, p.rle.width) }))])));
}
