import { Worker } from 'node:worker_threads';
import { Rng } from '../util/random.ts';
import type { MaskTarget } from './augment.ts';
import { makeBatch, type AugmentConfig, type TrainBatch, type TrainTile } from './data.ts';

/** What every batch of a run shares: the tiles (the mosaic pool) and how batches are made. */
export interface BatchSetup {
  tiles: TrainTile[];
  protoSize: number;
  augment: AugmentConfig;
  maskTarget: MaskTarget;
  seed: number;
}

/** One batch: which tiles (indices into `tiles`), and where it sits in the run (its random numbers). */
export interface BatchJob {
  epoch: number;
  index: number;
  tiles: number[];
}

/**
 * A batch from its own random stream (seed, epoch, batch index): the same batch whichever
 * thread makes it and in whatever order, so `--workers` never changes a run's result.
 */
export function makeSeededBatch(setup: BatchSetup, job: BatchJob): TrainBatch {
  const rng = Rng.of(setup.seed, job.epoch, job.index, 0xba7c);
  return makeBatch(job.tiles.map((k) => setup.tiles[k]!), setup.protoSize, setup.augment, rng, setup.tiles, setup.maskTarget);
}

/** The buffers a batch owns, moved (not copied) between threads. */
export function batchTransferables(batch: TrainBatch): ArrayBuffer[] {
  const buffers = [batch.images.buffer, ...batch.masks.map((m) => m.buffer), ...(batch.ignore ?? []).flatMap((m) => (m ? [m.buffer] : []))];
  return [...new Set(buffers)] as ArrayBuffer[];
}

/**
 * Makes training batches in worker threads (like a PyTorch DataLoader's workers) while the
 * main thread runs the training step: decoding is done once, but mosaic, resampling, stain
 * jitter, rasterised masks and targets cost about as much as a tiny model's step. Requests
 * run ahead (`prefetch`), results come back in request order. With 0 workers batches are made
 * inline, on request.
 */
export class BatchPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (b: TrainBatch) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failure: Error | null = null;

  constructor(private readonly setup: BatchSetup, workers: number) {
    for (let k = 0; k < workers; k++) {
      const w = new Worker(new URL('./batch-worker-entry.mjs', import.meta.url));
      w.on('message', (m: { job: number; batch?: TrainBatch; error?: string }) => {
        const entry = this.waiting.get(m.job)!;
        this.waiting.delete(m.job);
        if (m.error !== undefined) entry.reject(new Error(`batch worker: ${m.error}`));
        else entry.resolve(m.batch!);
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => { if (code !== 0 && this.workers.length > 0) this.fail(new Error(`batch worker exited with code ${code}`)); });
      w.postMessage({ setup });
      this.workers.push(w);
    }
  }

  private fail(e: Error): void {
    this.failure = e;
    for (const entry of this.waiting.values()) entry.reject(e);
    this.waiting.clear();
  }

  get size(): number {
    return this.workers.length;
  }

  /** The batch of `job`; with workers, started now and resolved when ready. */
  request(job: BatchJob): Promise<TrainBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.workers.length === 0) {
      try {
        return Promise.resolve(makeSeededBatch(this.setup, job));
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    const id = this.next++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ job: id, batch: job });
    });
  }

  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
