import { readTileImage, type Dataset, type Split } from '../data/dataset.ts';
import type { RgbImage } from '../data/images.ts';
import { TILE_SIZE } from '../data/types.ts';
import type { NeighbourLookup } from './predict.ts';

/**
 * For `--context`: a function giving each tile's 8 slide neighbours (by `i, j` in
 * tile_meta.csv) that have images in the same split; a tile without metadata has none.
 */
export function neighbourFinder(ds: Dataset, split: Split): (id: string) => Promise<NeighbourLookup> {
  const at = new Map(ds.tiles.map((t) => [`${t.sourceWsi}:${t.i}:${t.j}`, t.id]));
  return async (id) => {
    const meta = ds.tileById.get(id);
    const grid = new Map<string, RgbImage>();
    if (meta) {
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const n = at.get(`${meta.sourceWsi}:${meta.i + dx * TILE_SIZE}:${meta.j + dy * TILE_SIZE}`);
        if ((dx !== 0 || dy !== 0) && n && ds.images[split].has(n)) grid.set(`${dx},${dy}`, await readTileImage(ds, n, split));
      }
    }
    return (dx, dy) => grid.get(`${dx},${dy}`) ?? null;
  };
}
