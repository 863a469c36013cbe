/**
 * The `queue` executor: a stage's jobs go onto a Redis queue (BullMQ) and `vascseg worker`s
 * on any number of machines run them (./worker.ts). What BullMQ gives: a worker that dies
 * leaves its job "stalled", and another worker takes it again once its lock expires (the job
 * resumes from the fold's `weights/last`); progress lines travel as job progress events.
 *
 * Jobs have ids derived from the run directory, stage hash and label, so two pipelines on one
 * Redis never share a job, and a pipeline started again finds the jobs it queued before.
 */
import { hostname } from 'node:os';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { progressLines, unfinishedJobs, type Executor } from './executor.ts';
import { jobFinished, type PipelineJob } from './jobs.ts';

export const DEFAULT_QUEUE = 'vascseg';
/** Tiles per prediction shard: big enough that loading the models is a small part of a shard. */
export const DEFAULT_SHARD_TILES = 50;
const VANISHED_CHECK_MS = 10_000;

/**
 * A Redis connection that survives Redis restarts (it reconnects and retries forever), after
 * one probe that fails fast with a clear error when nothing answers at `url`.
 */
export async function connectRedis(url: string, log: (line: string) => void = () => {}): Promise<Redis> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`--redis ${url}: not a URL; expected redis://host:port`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error(`--redis ${url}: expected a redis:// or rediss:// URL`);
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000, enableOfflineQueue: false });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new Error(`--redis ${url}: cannot reach Redis (${(e as Error).message}); start redis-server there (Debian: apt-get install redis-server) or fix the URL`);
  } finally {
    probe.disconnect();
  }
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  // ioredis reconnects by itself; say so once per outage instead of once per retry.
  let down = false;
  redis.on('error', (e: Error) => { if (!down) log(`redis ${url}: ${e.message}; reconnecting`); down = true; });
  // A restart can be over before any command fails, so the reconnection itself marks the outage.
  redis.on('reconnecting', () => { down = true; });
  redis.on('ready', () => { if (down) log(`redis ${url}: connected again`); down = false; });
  return redis;
}

export interface QueueExecutorOptions {
  redis: string;
  queue: string;
  shardTiles: number;
  log: (line: string) => void;
}

export class QueueExecutor implements Executor {
  private constructor(
    private readonly opts: QueueExecutorOptions,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly connections: Redis[],
  ) {}

  static async open(opts: QueueExecutorOptions): Promise<QueueExecutor> {
    const jobs = await connectRedis(opts.redis, opts.log);
    // QueueEvents blocks on its connection, so it gets its own.
    const listen = await connectRedis(opts.redis, () => {});
    const queue = new Queue(opts.queue, { connection: jobs });
    const events = new QueueEvents(opts.queue, { connection: listen });
    await events.waitUntilReady();
    return new QueueExecutor(opts, queue, events, [jobs, listen]);
  }

  predictShards(tiles: number): number {
    return Math.ceil(tiles / this.opts.shardTiles);
  }

  async run(jobs: readonly PipelineJob[], tag: string, log: (line: string) => void): Promise<void> {
    const pending = await unfinishedJobs(jobs, tag, log);
    if (pending.length === 0) return;
    const workers = await this.queue.getWorkersCount();
    const progress = progressLines(pending, Math.max(1, workers), tag, log);
    const byId = new Map(pending.map((j) => [j.id, j]));
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      const job = byId.get(jobId);
      const line = (data as { line?: unknown } | null)?.line;
      if (job && typeof line === 'string') progress.line(job, line);
    };
    this.events.on('progress', onProgress);
    const done = new Set<string>();
    // A Redis restarted without persistence forgets queued jobs, and nobody would ever finish
    // them: look for ours now and then, and queue again any that vanished.
    const requeue = (job: PipelineJob) => {
      log(`${tag} ${job.label} vanished from the queue (Redis restarted without persistence?): queued again`);
      return this.enqueue(job);
    };
    const watch = setInterval(() => {
      void (async () => {
        for (const job of pending) if (!done.has(job.id) && !(await this.queue.getJob(job.id))) await requeue(job);
      })().catch(() => {});
    }, VANISHED_CHECK_MS);
    try {
      const queued: Job[] = [];
      for (const job of pending) queued.push(await this.enqueue(job));
      log(`${tag} ${pending.length} job${pending.length > 1 ? 's' : ''} on queue ${this.opts.queue} at ${this.opts.redis}; ${workers === 0 ? `no worker is connected yet: start one with \`vascseg worker --redis ${this.opts.redis} --queue ${this.opts.queue}\`` : `${workers} worker${workers > 1 ? 's' : ''} connected`}`);
      await Promise.all(queued.map(async (q, k) => {
        const job = pending[k]!;
        for (let waiting: Job | null = q; waiting;) {
          try {
            await waiting.waitUntilFinished(this.events);
            waiting = null;
          } catch (e) {
            // BullMQ's word for a job that is no longer in Redis (it looks again on reconnecting).
            if (!/Missing key for job/.test((e as Error).message)) throw new Error(`${tag} ${job.label} failed on a worker: ${(e as Error).message}`);
            waiting = await requeue(job);
          }
        }
        // The worker wrote its result on its side of the shared filesystem; it must be here too.
        done.add(job.id);
        if (!(await jobFinished(job))) throw new Error(`${tag} ${job.label}: a worker finished it, but its result is not in ${job.stageDir} on ${hostname()}; the run directory must be on a filesystem the pipeline and every worker share`);
        progress.finished();
      }));
    } finally {
      clearInterval(watch);
      this.events.off('progress', onProgress);
    }
  }

  /** Queue a job, or find it already queued (a pipeline started again waits for the same job). */
  private async enqueue(job: PipelineJob): Promise<Job> {
    const existing = await this.queue.getJob(job.id);
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed') return existing;
      // Its result is not on disk (checked before), so it has to run again.
      await existing.remove();
    }
    return this.queue.add(job.kind, job, {
      jobId: job.id,
      // A job that fails fails once with its error; a worker that dies is BullMQ's stalled
      // case, which hands the job on regardless of attempts.
      attempts: 1,
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
    for (const c of this.connections) c.disconnect();
  }
}
