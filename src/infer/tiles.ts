import { readTileImage, type Dataset, type Split } from '../data/dataset.ts';
import type { RgbImage } from '../data/images.ts';
import { FinishPool } from './finish-pool.ts';
import { neighbourFinder } from './neighbours.ts';
import { forwardTile, inputLayout, type NeighbourLookup, type Prediction, type PredictOptions } from './predict.ts';
import type { Runtime } from './runtime.ts';

/** A tile to predict: its id, how to load it, and (for `--context`) its neighbours. */
export interface TileSource {
  id: string;
  load: () => Promise<RgbImage>;
  neighbours?: () => Promise<NeighbourLookup>;
}

/** Progress as each tile is predicted, with its image (overlays draw on it). */
export type OnTile = (id: string, image: RgbImage, predictions: Prediction[], done: number, total: number) => void;

/**
 * A source's image and (for `--context`) its neighbours, loading. A load that fails before its
 * turn is reported when its turn comes (awaited), not as an unhandled rejection.
 */
function loadSource(src: TileSource, opts: PredictOptions): Promise<[RgbImage, NeighbourLookup | undefined]> {
  const loading = Promise.all([src.load(), opts.context > 0 && src.neighbours ? src.neighbours() : undefined]);
  loading.catch(() => undefined);
  return loading;
}

/** Tiles being decoded and resized while the network runs (see `predictSources`). */
const TILES_AHEAD = 3;

/**
 * Predict tiles in order with one model or an ensemble. The network runs on this thread; `pool`
 * (worker threads) resizes each tile for the network and finishes its outputs (masks,
 * post-processing), so while tile k is in the network, tiles k+1 to k+3 are being decoded and
 * resized and tile k-1 finished. A pool made by `FinishPool.withNetworks` runs the network
 * itself (its own sessions of the same models; `runtimes` is then not used): see
 * `predictInPool`. `onTile` reports progress with the tile's image.
 */
export async function predictSources(runtimes: readonly Runtime[], sources: readonly TileSource[], opts: PredictOptions, pool: FinishPool, onTile?: OnTile): Promise<Map<string, Prediction[]>> {
  if (pool.runsNetwork) return predictInPool(sources, opts, pool, onTile);
  const results: Prediction[][] = new Array(sources.length);
  const inflight: Promise<void>[] = [];
  let done = 0;
  const layout = inputLayout(runtimes);
  // Image decoding runs on libuv's threads and resizing in the pool, so both overlap the
  // forward pass instead of preceding it. A decoded image is handed to the pool by a callback
  // on this thread, which cannot run while onnxruntime holds it: the resize of a tile whose
  // image arrives during forward k is asked for only after it, behind tile k's finishing.
  // Three tiles on their way keep that resize a whole forward pass ahead of its turn (with
  // two, the network waited ~18 ms per tile for it; bench:infer).
  const ready = (src: TileSource) => {
    const tile = loadSource(src, opts).then(async ([image, neighbours]) => ({ image, prepared: await pool.prepare(image, opts, neighbours, layout) }));
    tile.catch(() => undefined); // as loadSource's: reported when its turn comes
    return tile;
  };
  const coming = sources.slice(0, TILES_AHEAD).map(ready);
  for (const [k, src] of sources.entries()) {
    const { image, prepared } = await coming.shift()!;
    if (k + TILES_AHEAD < sources.length) coming.push(ready(sources[k + TILES_AHEAD]!));
    const tile = await forwardTile(runtimes, prepared, opts);
    inflight.push(pool.finish(tile, opts).then((p) => {
      results[k] = p;
      onTile?.(src.id, image, p, ++done, sources.length);
    }));
    // At most one tile per worker waits, so memory stays bounded.
    if (inflight.length > Math.max(1, pool.size)) await inflight.shift();
  }
  await Promise.all(inflight);
  return new Map(sources.map((s, k) => [s.id, results[k]!]));
}

/**
 * `predictSources` when the pool's workers run the network themselves: each tile goes whole to
 * the least busy worker; images are decoded here (on libuv's threads) a few tiles ahead, and
 * each worker has at most two tiles waiting, so memory stays bounded. `onTile` is called as
 * tiles finish, which need not be in order; the map is in the sources' order.
 */
async function predictInPool(sources: readonly TileSource[], opts: PredictOptions, pool: FinishPool, onTile?: OnTile): Promise<Map<string, Prediction[]>> {
  const results: Prediction[][] = new Array(sources.length);
  const inflight = new Set<Promise<void>>();
  let done = 0;
  const ahead = 2 * pool.size;
  const coming = sources.slice(0, ahead).map((src) => loadSource(src, opts));
  for (const [k, src] of sources.entries()) {
    const [image, neighbours] = await coming.shift()!;
    if (k + ahead < sources.length) coming.push(loadSource(sources[k + ahead]!, opts));
    const job: Promise<void> = pool.predict(image, opts, neighbours).then((p) => {
      results[k] = p;
      inflight.delete(job);
      onTile?.(src.id, image, p, ++done, sources.length);
    });
    inflight.add(job);
    job.catch(() => undefined); // a failure is raised by the race or the final wait, not as an unhandled rejection
    if (inflight.size >= ahead) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return new Map(sources.map((s, k) => [s.id, results[k]!]));
}

/** Predict a dataset's tiles (by id); `onTile` reports progress. */
export async function predictTiles(runtimes: readonly Runtime[], ds: Dataset, ids: readonly string[], split: Split, opts: PredictOptions, onTile?: (done: number, total: number) => void, workers = 1): Promise<Map<string, Prediction[]>> {
  const neighbours = opts.context > 0 ? neighbourFinder(ds, split) : null;
  const pool = new FinishPool(workers);
  try {
    return await predictSources(runtimes, ids.map((id) => ({ id, load: () => readTileImage(ds, id, split), neighbours: neighbours ? () => neighbours(id) : undefined })), opts, pool, onTile ? (_id, _img, _p, done, total) => onTile(done, total) : undefined);
  } finally {
    await pool.close();
  }
}
