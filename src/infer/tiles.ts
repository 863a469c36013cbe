import { readTileImage, type Dataset, type Split } from '../data/dataset.ts';
import type { RgbImage } from '../data/images.ts';
import { FinishPool } from './finish-pool.ts';
import { neighbourFinder } from './neighbours.ts';
import { runTile, type NeighbourLookup, type Prediction, type PredictOptions } from './predict.ts';
import type { Runtime } from './runtime.ts';

/** A tile to predict: its id, how to load it, and (for `--context`) its neighbours. */
export interface TileSource {
  id: string;
  load: () => Promise<RgbImage>;
  neighbours?: () => Promise<NeighbourLookup>;
}

/**
 * Predict tiles in order with one model or an ensemble. The network runs on this thread; the
 * rest of each tile is finished by `pool` (worker threads), so tile k+1's forward pass overlaps
 * tile k's masks and post-processing while tile k+2 loads. `onTile` reports progress with the
 * tile's image.
 */
export async function predictSources(runtimes: readonly Runtime[], sources: readonly TileSource[], opts: PredictOptions, pool: FinishPool, onTile?: (id: string, image: RgbImage, predictions: Prediction[], done: number, total: number) => void): Promise<Map<string, Prediction[]>> {
  const results: Prediction[][] = new Array(sources.length);
  const inflight: Promise<void>[] = [];
  let done = 0;
  // Tile k+1's image (and neighbours) load while tile k is in the network: decoding runs on
  // libuv's threads, so it overlaps the forward pass instead of preceding it.
  const fetch = (src: TileSource) => Promise.all([src.load(), opts.context > 0 && src.neighbours ? src.neighbours() : undefined]);
  let next = sources.length > 0 ? fetch(sources[0]!) : null;
  for (const [k, src] of sources.entries()) {
    const [image, neighbours] = await next!;
    next = k + 1 < sources.length ? fetch(sources[k + 1]!) : null;
    // A load that fails while this tile runs is reported when its turn comes, not as an unhandled rejection.
    next?.catch(() => undefined);
    const tile = await runTile(runtimes, image, opts, neighbours);
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
