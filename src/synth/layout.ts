import type { TileMeta } from '../data/types.ts';
import type { SynthConfig } from './config.ts';
import { Rng } from '../util/random.ts';
import { CELL } from './world.ts';

/**
 * Where the tiles lie: each WSI's tiles form one connected patch of its 512 px grid (grown
 * cell by cell from a seed cell, like the real tiles, which almost all have neighbours);
 * dataset 1 takes the first rows of the patch and dataset 2 the rest, so each dataset is one
 * region of the slide. Tile ids are 12 lowercase hex characters.
 */
export function layoutTiles(config: SynthConfig): TileMeta[] {
  const tiles: TileMeta[] = [];
  const usedIds = new Set<string>();
  const idRng = Rng.of(config.seed, 0x1d);
  for (const w of config.wsis) {
    const n = w.dataset1 + w.dataset2 + w.dataset3;
    const rng = Rng.of(config.seed, w.wsi, 0x1a);
    const origin = [rng.int(2, 8), rng.int(2, 8)] as const;
    const taken = new Set<string>(['0,0']);
    const cells: [number, number][] = [[0, 0]];
    const frontier: [number, number][] = [];
    const pushNeighbours = (x: number, y: number) => {
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]] as const) {
        const key = `${x + dx},${y + dy}`;
        if (!taken.has(key) && x + dx > -origin[0] && y + dy > -origin[1]) frontier.push([x + dx, y + dy]);
      }
    };
    pushNeighbours(0, 0);
    while (cells.length < n) {
      const [x, y] = frontier.splice(rng.int(0, frontier.length - 1), 1)[0]!;
      const key = `${x},${y}`;
      if (taken.has(key)) continue;
      taken.add(key);
      cells.push([x, y]);
      pushNeighbours(x, y);
    }
    cells.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    cells.forEach(([x, y], k) => {
      const dataset = k < w.dataset1 ? 1 : k < w.dataset1 + w.dataset2 ? 2 : 3;
      let id: string;
      do {
        id = [0, 1, 2].map(() => idRng.int(0, 0xffff).toString(16).padStart(4, '0')).join('');
      } while (usedIds.has(id));
      usedIds.add(id);
      tiles.push({ id, sourceWsi: w.wsi, dataset, i: (origin[0] + x) * CELL, j: (origin[1] + y) * CELL });
    });
  }
  return tiles;
}
