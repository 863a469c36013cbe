import { readTileImage, type Dataset, type Split } from '../data/dataset.ts';
import { neighbourFinder } from './neighbours.ts';
import { predictTile, type Prediction, type PredictOptions } from './predict.ts';
import type { Runtime } from './runtime.ts';

/** Predict a dataset's tiles (by id) with one model or an ensemble; `onTile` reports progress. */
export async function predictTiles(runtimes: readonly Runtime[], ds: Dataset, ids: readonly string[], split: Split, opts: PredictOptions, onTile?: (done: number, total: number) => void): Promise<Map<string, Prediction[]>> {
  const neighbours = opts.context > 0 ? neighbourFinder(ds, split) : null;
  const out = new Map<string, Prediction[]>();
  for (const [k, id] of ids.entries()) {
    const image = await readTileImage(ds, id, split);
    out.set(id, await predictTile(runtimes, image, opts, neighbours ? await neighbours(id) : undefined));
    onTile?.(k + 1, ids.length);
  }
  return out;
}
