/**
 * `vascseg worker`: takes pipeline jobs from a Redis queue and runs each in a child process
 * (`job.ts`, as the local executor does), until stopped. The child does the work so this
 * process stays free to renew the job's lock; a worker that dies (even `kill -9`) takes its
 * child with it, and the job's lock expiring hands it to another worker.
 *
 * Ctrl-C once: finish the current jobs, take no more. Twice: stop them now and hand them back
 * to the queue, where the next worker resumes them from their last checkpoint.
 */
import { hostname } from 'node:os';
import { basename } from 'node:path';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { runJobProcess } from './executor.ts';
import { jobFinished, jobInvisible, type PipelineJob } from './jobs.ts';
import { connectRedis } from './queue.ts';

export interface WorkerOptions {
  redis: string;
  queue: string;
  /** Jobs at once, each in its own process. */
  concurrency: number;
  /** onnxruntime threads per job. */
  threads: number;
  log: (line: string) => void;
}

/** How long a job's lock lasts without renewal before the job counts as stalled (a knob for tests). */
function lockMs(): number {
  const v = Number(process.env.VASCSEG_QUEUE_LOCK_MS ?? 30_000);
  if (!Number.isInteger(v) || v < 500) throw new Error(`VASCSEG_QUEUE_LOCK_MS: expected milliseconds >= 500, got ${process.env.VASCSEG_QUEUE_LOCK_MS}`);
  return v;
}

export async function runWorker(opts: WorkerOptions): Promise<void> {
  const { log } = opts;
  const connection = await connectRedis(opts.redis, log);
  const stops = new Map<string, () => void>();
  let handingBack = false;
  const me = `${hostname()} pid ${process.pid}`;

  const processor = async (job: Job<PipelineJob>, token?: string): Promise<void> => {
    const desc = job.data;
    const invisible = await jobInvisible(desc);
    if (invisible) throw new UnrecoverableError(invisible);
    const name = `[${basename(desc.stageDir)}] ${desc.label}`;
    const say = (line: string) => {
      log(`${name} ${line}`);
      job.updateProgress({ line }).catch(() => {});
    };
    say(`started on ${me} (${opts.threads} onnxruntime thread${opts.threads > 1 ? 's' : ''})`);
    const started = Date.now();
    try {
      await runJobProcess(desc, opts.threads, say, (stop) => stops.set(job.id!, stop));
    } catch (e) {
      if (handingBack) {
        await job.moveToWait(token);
        log(`${name} handed back to the queue`);
        throw new WaitingError();
      }
      throw e;
    } finally {
      stops.delete(job.id!);
    }
    if (!(await jobFinished(desc))) throw new Error(`${desc.label}: the job ended without writing its result`);
    log(`${name} finished in ${((Date.now() - started) / 1000).toFixed(1)} s (${desc.stageDir})`);
  };

  const lockDuration = lockMs();
  const worker = new Worker<PipelineJob>(opts.queue, processor, {
    connection,
    concurrency: opts.concurrency,
    lockDuration,
    stalledInterval: lockDuration,
    // A job whose workers keep dying is failed after this many hand-overs rather than forever.
    maxStalledCount: 3,
    autorun: false,
  });
  worker.on('failed', (job, err) => { if (job && !(err instanceof WaitingError)) log(`[${basename(job.data.stageDir)}] ${job.data.label} failed: ${err.message}`); });
  // While Redis is away every retry errors; one line per minute per message is enough.
  const said = new Map<string, number>();
  worker.on('error', (err) => {
    if (Date.now() - (said.get(err.message) ?? 0) < 60_000) return;
    said.set(err.message, Date.now());
    log(`worker: ${err.message}`);
  });

  let interrupts = 0;
  const stop = () => {
    interrupts++;
    if (interrupts === 1) {
      log(stops.size > 0 ? `stopping: finishing the current job${stops.size > 1 ? 's' : ''} (Ctrl-C again to hand ${stops.size > 1 ? 'them' : 'it'} back to the queue now)` : 'stopping');
      void worker.close();
    } else if (!handingBack) {
      handingBack = true;
      log('handing the current jobs back to the queue');
      for (const s of stops.values()) s();
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  log(`worker ${me} on queue ${opts.queue} at ${opts.redis}: ${opts.concurrency} job${opts.concurrency > 1 ? 's' : ''} at a time, ${opts.threads} onnxruntime thread${opts.threads > 1 ? 's' : ''} each; waiting for jobs`);
  try {
    await worker.run();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    connection.disconnect();
  }
  log('worker stopped');
}
