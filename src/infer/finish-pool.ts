import { Worker } from 'node:worker_threads';
import type { RgbImage } from '../data/images.ts';
import type { OnnxModel } from './onnx-runtime.ts';
import type { Layout } from './preprocess.ts';
import { finishTile, neighbourImages, prepareTile, type NeighbourLookup, type Prediction, type PredictOptions, type PreparedTile, type TileOutputs, type Timings } from './predict.ts';

/** What a worker is asked to do: open its networks, make a tile ready for the network, finish its outputs, or predict it whole. */
export type PoolJob =
  | { kind: 'open'; networks: OnnxModel[]; threads: number }
  | { kind: 'prepare'; image: RgbImage; opts: PredictOptions; neighbours: (RgbImage | null)[]; layout: Layout }
  | { kind: 'finish'; tile: TileOutputs; opts: PredictOptions; maskStrings: boolean }
  | { kind: 'tile'; image: RgbImage; opts: PredictOptions; neighbours: (RgbImage | null)[]; maskStrings: boolean };

/** A worker's answer: the prepared tile, the predictions, or the error's message. */
export interface PoolReply { job: number; prepared?: PreparedTile; predictions?: Prediction[]; error?: string; timings?: Timings }

/** The buffers that hold nothing but one of the tile's output arrays (those may move; a view into a larger buffer is copied). */
function ownedBuffers(tile: TileOutputs): ArrayBuffer[] {
  const arrays = tile.runs.flatMap(({ raw }) => [...raw.heads, raw.proto].map((a) => a.data));
  return [...new Set(arrays.filter((a) => a.byteOffset === 0 && a.byteLength === a.buffer.byteLength).map((a) => a.buffer as ArrayBuffer))];
}

/**
 * Worker threads for the work around the network. Made with `new FinishPool(n)`, they prepare
 * tiles for it (`prepareTile`: the resize to the model input) and finish its outputs
 * (`finishTile`) while the main thread runs it: onnxruntime-node's `run` holds the JS thread,
 * so overlap needs threads, not promises. Made with `FinishPool.withNetworks`, each worker
 * opens the ensemble's ONNX models itself (one onnxruntime thread each) and predicts whole
 * tiles (`predict`), several tiles at once: on two cores two one-thread sessions forward
 * 1.65x-1.8x as many tiles as one, where one session on two threads forwards 1.25x-1.65x as
 * many (bench:infer --forward-ways yes).
 * With 0 workers everything runs inline. Timings of the workers are added to `timings` when
 * their answers come back.
 */
export class FinishPool {
  private readonly workers: Worker[] = [];
  /** Jobs each worker has not answered yet (a tile goes to the least busy). */
  private readonly pending: number[] = [];
  private readonly waiting = new Map<number, { resolve: (r: PoolReply) => void; reject: (e: Error) => void; worker: number }>();
  private next = 0;
  private networks = false;

  /** `maskStrings`: also encode each prediction's mask as a Kaggle submission writes it (`Prediction.maskString`). */
  constructor(workers: number, private readonly timings?: Timings, private readonly maskStrings = false) {
    for (let k = 0; k < workers; k++) {
      const w = new Worker(new URL('./finish-worker-entry.mjs', import.meta.url));
      w.on('message', (m: PoolReply) => {
        const entry = this.waiting.get(m.job)!;
        this.waiting.delete(m.job);
        this.pending[entry.worker]!--;
        if (m.timings && this.timings) for (const key of Object.keys(m.timings) as (keyof Timings)[]) this.timings[key] += m.timings[key];
        if (m.error !== undefined) entry.reject(new Error(m.error));
        else entry.resolve(m);
      });
      w.on('error', (e) => { for (const entry of this.waiting.values()) entry.reject(e); this.waiting.clear(); });
      this.workers.push(w);
      this.pending.push(0);
    }
  }

  /**
   * `workers` threads that each run the whole prediction of a tile with their own sessions of
   * `networks` (the ensemble's ONNX models, in order; `threads` onnxruntime threads each).
   * Resolves once every worker has opened them.
   */
  static async withNetworks(workers: number, networks: OnnxModel[], timings?: Timings, maskStrings = false, threads = 1): Promise<FinishPool> {
    if (workers < 1) throw new Error('a pool that runs the network needs at least one worker');
    const pool = new FinishPool(workers, timings, maskStrings);
    pool.networks = true;
    try {
      await Promise.all(pool.workers.map((_, k) => pool.post({ kind: 'open', networks, threads }, [], k)));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Whether the workers run the network themselves (`predict`), or only the work around it. */
  get runsNetwork(): boolean {
    return this.networks;
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

  /** A whole tile predicted by the least busy worker with its own sessions (a pool made by `withNetworks`). */
  async predict(image: RgbImage, opts: PredictOptions, neighbour?: NeighbourLookup): Promise<Prediction[]> {
    if (!this.networks) throw new Error('this pool does not run the network: open it with FinishPool.withNetworks');
    const neighbours = opts.context > 0 && neighbour ? neighbourImages(neighbour) : [];
    return (await this.post({ kind: 'tile', image, opts, neighbours, maskStrings: this.maskStrings })).predictions!;
  }

  private post(message: PoolJob, transfer: ArrayBuffer[] = [], to?: number): Promise<PoolReply> {
    const job = this.next++;
    const worker = to ?? this.pending.indexOf(Math.min(...this.pending));
    this.pending[worker]!++;
    return new Promise((resolve, reject) => {
      this.waiting.set(job, { resolve, reject, worker });
      this.workers[worker]!.postMessage({ job, ...message }, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    this.pending.length = 0;
  }
}
