import { readTileImage, type Dataset, type Split } from '../data/dataset.ts';
import type { RgbImage } from '../data/images.ts';
import { FinishPool } from './finish-pool.ts';
import { neighbourFinder } from './neighbours.ts';
import { forwardTile, type NeighbourLookup, type Prediction, type PredictOptions } from './predict.ts';
import type { Runtime } from './runtime.ts';

/** A tile to predict: its id, how to load it, and (for `--context`) its neighbours. */
export interface TileSource {
  id: string;
  load: () => Promise<RgbImage>;
  neighbours?: () => Promise<NeighbourLookup>;
}

/**
 * Predict tiles in order with one model or an ensemble. The network runs on this thread; `pool`
 * (worker threads) resizes each tile for the network and finishes its outputs (masks,
 * post-processing), so while tile k is in the network, tile k+1 is being resized, tile k-1
 * finished and tile k+2 decoded. `onTile` reports progress with the tile's image.
 */
export async function predictSources(runtimes: readonly Runtime[], sources: readonly TileSource[], opts: PredictOptions, pool: FinishPool, onTile?: (id: string, image: RgbImage, predictions: Prediction[], done: number, total: number) => void): Promise<Map<string, Prediction[]>> {
  const results: Prediction[][] = new Array(sources.length);
  const inflight: Promise<void>[] = [];
  let done = 0;
  // Image decoding runs on libuv's threads and resizing in the pool, so both overlap the
  // forward pass instead of preceding it. Two tiles are on their way at any time: the next
  // one's resize must be asked for before onnxruntime takes this thread for the current one.
  const ready = (src: TileSource) => {
    const tile = Promise.all([src.load(), opts.context > 0 && src.neighbours ? src.neighbours() : undefined])
      .then(async ([image, neighbours]) => ({ image, prepared: await pool.prepare(image, opts, neighbours) }));
    // A load that fails before its turn is reported when its turn comes, not as an unhandled rejection.
    tile.catch(() => undefined);
    return tile;
  };
  const coming = sources.slice(0, 2).map(ready);
  for (const [k, src] of sources.entries()) {
    const { image, prepared } = await coming.shift()!;
    if (k + 2 < sources.length) coming.push(ready(sources[k + 2]!));
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
