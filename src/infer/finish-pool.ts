import { Worker } from 'node:worker_threads';
import { finishTile, type Prediction, type PredictOptions, type TileOutputs, type Timings } from './predict.ts';

/**
 * Finishes tiles (`finishTile`) in worker threads while the main thread runs the network on
 * the next tile: onnxruntime-node's `run` holds the JS thread, so overlap needs threads, not
 * promises. With 0 workers tiles are finished inline. Timings of the workers are added to
 * `timings` when their tiles come back.
 */
export class FinishPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (p: Prediction[]) => void; reject: (e: Error) => void }>();
  private next = 0;

  constructor(workers: number, private readonly timings?: Timings) {
    for (let k = 0; k < workers; k++) {
      const w = new Worker(new URL('./finish-worker-entry.mjs', import.meta.url));
      w.on('message', (m: { job: number; predictions?: Prediction[]; error?: string; timings?: Timings }) => {
        const entry = this.waiting.get(m.job)!;
        this.waiting.delete(m.job);
        if (m.timings && this.timings) for (const key of Object.keys(m.timings) as (keyof Timings)[]) this.timings[key] += m.timings[key];
        if (m.error !== undefined) entry.reject(new Error(m.error));
        else entry.resolve(m.predictions!);
      });
      w.on('error', (e) => { for (const entry of this.waiting.values()) entry.reject(e); this.waiting.clear(); });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  finish(tile: TileOutputs, opts: PredictOptions): Promise<Prediction[]> {
    if (this.workers.length === 0) return Promise.resolve(finishTile(tile, opts, this.timings));
    const job = this.next++;
    const worker = this.workers[job % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.set(job, { resolve, reject });
      worker.postMessage({ job, tile, opts });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
