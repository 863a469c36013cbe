import { Worker } from 'node:worker_threads';
import type { RgbImage } from '../data/images.ts';
import type { Layout } from './preprocess.ts';
import { finishTile, neighbourImages, prepareTile, type NeighbourLookup, type Prediction, type PredictOptions, type PreparedTile, type TileOutputs, type Timings } from './predict.ts';

/** What a worker is asked to do: make a tile ready for the network, or finish its outputs. */
export type PoolJob =
  | { kind: 'prepare'; image: RgbImage; opts: PredictOptions; neighbours: (RgbImage | null)[]; layout: Layout }
  | { kind: 'finish'; tile: TileOutputs; opts: PredictOptions; maskStrings: boolean };

/** A worker's answer: the prepared tile, the predictions, or the error's message. */
export interface PoolReply { job: number; prepared?: PreparedTile; predictions?: Prediction[]; error?: string; timings?: Timings }

/** The buffers that hold nothing but one of the tile's output arrays (those may move; a view into a larger buffer is copied). */
function ownedBuffers(tile: TileOutputs): ArrayBuffer[] {
  const arrays = tile.runs.flatMap(({ raw }) => [...raw.heads, raw.proto].map((a) => a.data));
  return [...new Set(arrays.filter((a) => a.byteOffset === 0 && a.byteLength === a.buffer.byteLength).map((a) => a.buffer as ArrayBuffer))];
}

/**
 * Prepares tiles for the network (`prepareTile`: the resize to the model input) and finishes
 * their outputs (`finishTile`) in worker threads, while the main thread runs the network:
 * onnxruntime-node's `run` holds the JS thread, so overlap needs threads, not promises. With 0
 * workers both run inline. Timings of the workers are added to `timings` when their answers
 * come back.
 */
export class FinishPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (r: PoolReply) => void; reject: (e: Error) => void }>();
  private next = 0;

  /** `maskStrings`: also encode each prediction's mask as a Kaggle submission writes it (`Prediction.maskString`). */
  constructor(workers: number, private readonly timings?: Timings, private readonly maskStrings = false) {
    for (let k = 0; k < workers; k++) {
      const w = new Worker(new URL('./finish-worker-entry.mjs', import.meta.url));
      w.on('message', (m: PoolReply) => {
        const entry = this.waiting.get(m.job)!;
        this.waiting.delete(m.job);
        if (m.timings && this.timings) for (const key of Object.keys(m.timings) as (keyof Timings)[]) this.timings[key] += m.timings[key];
        if (m.error !== undefined) entry.reject(new Error(m.error));
        else entry.resolve(m);
      });
      w.on('error', (e) => { for (const entry of this.waiting.values()) entry.reject(e); this.waiting.clear(); });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** The tile resized for the network in `layout`, in a worker (its neighbours, for `--context`, go with it). */
  async prepare(image: RgbImage, opts: PredictOptions, neighbour?: NeighbourLookup, layout: Layout = 'nhwc'): Promise<PreparedTile> {
    if (this.workers.length === 0) return prepareTile(image, opts, neighbour, this.timings, layout);
    const neighbours = opts.context > 0 && neighbour ? neighbourImages(neighbour) : [];
    return (await this.post({ kind: 'prepare', image, opts, neighbours, layout })).prepared!;
  }

  /**
   * The tile's predictions. With workers, the raw outputs move to the worker (transferred, not
   * copied: a 640 px tile's are 7 MB per model and flip), so the caller must not read them after.
   */
  async finish(tile: TileOutputs, opts: PredictOptions): Promise<Prediction[]> {
    if (this.workers.length === 0) return finishTile(tile, opts, this.timings, this.maskStrings);
    return (await this.post({ kind: 'finish', tile, opts, maskStrings: this.maskStrings }, ownedBuffers(tile))).predictions!;
  }

  private post(message: PoolJob, transfer: ArrayBuffer[] = []): Promise<PoolReply> {
    const job = this.next++;
    const worker = this.workers[job % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.waiting.set(job, { resolve, reject });
      worker.postMessage({ job, ...message }, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
