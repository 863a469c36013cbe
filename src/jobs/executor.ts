/**
 * Executors run a stage's jobs and return when all of them are done (or throw the first
 * failure). The pipeline decides what the jobs are and reads their outputs; an executor only
 * decides where and when they run:
 *
 * - `local` (the default): training jobs in child processes on this machine, `workers` at a
 *   time, the cores shared out between them; prediction and slide jobs in this process, one at a time.
 * - `queue` (./queue.ts): every job on a Redis queue (BullMQ), run by `vascseg worker`s.
 *
 * An executor for another scheduler is one file implementing this interface (see
 * docs/ARCHITECTURE.md, "Executors").
 */
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { executeJob, jobFinished, type JobMessage, type JobRequest, type PipelineJob } from './jobs.ts';

export interface Executor {
  /** Run the jobs; `log` gets progress lines already prefixed with the stage's tag. */
  run(jobs: readonly PipelineJob[], tag: string, log: (line: string) => void): Promise<void>;
  /** How many shards to cut `tiles` tiles of prediction into (1: one job). */
  predictShards(tiles: number): number;
  close(): Promise<void>;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** 42s, 3m07s, 2h05m. */
export function fmtSeconds(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}h${pad2(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${pad2(Math.round(s % 60))}s`;
  return `${s.toFixed(0)}s`;
}

/**
 * Progress lines of a stage's jobs, with the stage's ETA from the epoch times seen so far
 * (training lines carry `..., N s` or `| N s`); shared by the executors so their logs read the same.
 */
export function progressLines(jobs: readonly PipelineJob[], parallel: number, tag: string, log: (line: string) => void) {
  const epochTimes: number[] = [];
  const epochs = jobs.reduce((n, j) => n + (j.kind === 'train' ? j.options.epochs : 0), 0);
  let finished = 0;
  return {
    line(job: PipelineJob, line: string): void {
      const s = /[|,] ([\d.]+) s\b/.exec(line);
      if (s) epochTimes.push(Number(s[1]));
      const perEpoch = epochTimes.length ? epochTimes.reduce((a, b) => a + b, 0) / epochTimes.length : 0;
      const left = Math.max(0, epochs - epochTimes.length);
      const eta = s && perEpoch > 0 ? ` | stage ETA ${fmtSeconds((left * perEpoch) / Math.max(1, Math.min(parallel, jobs.length - finished)))}` : '';
      log(`${tag} ${job.label} ${line}${eta}`);
    },
    finished(): void { finished++; },
  };
}

/** The jobs not yet done; each one done earlier gets a line saying it is skipped. */
export async function unfinishedJobs(jobs: readonly PipelineJob[], tag: string, log: (line: string) => void): Promise<PipelineJob[]> {
  const pending: PipelineJob[] = [];
  for (const job of jobs) {
    if (await jobFinished(job)) log(`${tag} ${job.label} done earlier: skipped`);
    else pending.push(job);
  }
  return pending;
}

/** onnxruntime threads for each of `parallel` jobs side by side: the cores shared out. */
export const threadsEach = (parallel: number) => Math.max(1, Math.floor(availableParallelism() / parallel));

/** Run a job in a child process (`job.ts`); resolves when it finished, rejects with its error. */
export function runJobProcess(job: PipelineJob, threads: number, onLine: (line: string) => void, onChild?: (kill: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = fork(new URL('./job-entry.mjs', import.meta.url).pathname, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    onChild?.(() => child.kill('SIGKILL'));
    let failure: string | null = null;
    child.on('message', (m: JobMessage) => {
      if (m.type === 'log') onLine(m.line);
      if (m.type === 'error') failure = m.message;
    });
    child.on('exit', (code, signal) => {
      if (code === 0 && !failure) resolve();
      else reject(new Error(failure ?? (signal ? `killed by ${signal}` : `exit code ${code}`)));
    });
    child.send({ job, threads } satisfies JobRequest);
  });
}

/**
 * Today's executor. Training jobs run `workers` at a time, each in a child process
 * (onnxruntime and the JS parts of a step use about one core each, so folds side by side use
 * the machine); a lone job (pretraining) gets every core. Prediction runs here, the network
 * on all cores but one and its finishing work on that one.
 */
export class LocalExecutor implements Executor {
  constructor(private readonly workers: number) {}

  predictShards(): number {
    return 1;
  }

  async run(jobs: readonly PipelineJob[], tag: string, log: (line: string) => void): Promise<void> {
    const queue = await unfinishedJobs(jobs, tag, log);
    const training = queue.filter((j) => j.kind === 'train');
    const parallel = Math.max(1, Math.min(this.workers, training.length));
    const threads = threadsEach(parallel);
    const progress = progressLines(queue, parallel, tag, log);
    const pool = Array.from({ length: parallel }, async () => {
      for (let job = training.shift(); job; job = training.shift()) {
        const current = job;
        await runJobProcess(current, threads, (line) => progress.line(current, line)).catch((e: Error) => {
          throw new Error(`${tag} ${current.label} failed: ${e.message}`);
        });
        progress.finished();
      }
    });
    await Promise.all(pool);
    for (const job of queue.filter((j) => j.kind !== 'train')) {
      await executeJob(job, Math.max(1, availableParallelism() - 1), (line) => progress.line(job, line));
      progress.finished();
    }
  }

  async close(): Promise<void> {}
}
