import { readFileSync } from 'node:fs';
import { REFERENCE_DIR } from '../reference/build.ts';
import type { Point } from '../data/rasterize.ts';

/**
 * Vessel shapes: the real expert polygons of the 85 reference tiles, those that do not touch
 * the tile border (a cut vessel is not a whole shape), centred on their centroid. Sampling
 * these gives the real size and shape distribution (slits, rounds, branching lumens).
 */
export interface VesselTemplate {
  ring: Point[];
  radius: number;
  /**
   * Sampling weight that undoes the selection of whole shapes: a vessel of extent w x h lies
   * wholly inside a 512 px tile with probability (512 - w)(512 - h) / 512^2, so large vessels
   * are under-represented among the whole ones by that factor.
   */
  weight: number;
}

let cache: { templates: VesselTemplate[]; countsPerTile: number[] } | null = null;

export function vesselTemplates(): { templates: VesselTemplate[]; countsPerTile: number[] } {
  if (cache) return cache;
  const templates: VesselTemplate[] = [];
  const countsPerTile: number[] = [];
  const text = readFileSync(REFERENCE_DIR + 'dataset1_vessels_85tiles.jsonl', 'utf8');
  // Ordered by the shapes themselves, not by tile id: correcting the ids (as on 2026-12-01)
  // must not change the synthetic world a seed gives.
  const tilesByShape = text.trim().split('\n')
    .map((line) => JSON.parse(line) as { annotations: { type: string; coordinates: Point[][] }[] })
    .map((tile) => ({ tile, key: JSON.stringify(tile.annotations) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { tile } of tilesByShape) {
    const vessels = tile.annotations.filter((a) => a.type === 'blood_vessel');
    countsPerTile.push(vessels.length);
    for (const a of vessels) {
      const ring = a.coordinates[0]!;
      if (ring.some(([x, y]) => x <= 0 || y <= 0 || x >= 511 || y >= 511)) continue;
      const cx = ring.reduce((s, p) => s + p[0], 0) / ring.length;
      const cy = ring.reduce((s, p) => s + p[1], 0) / ring.length;
      const centred: Point[] = ring.map(([x, y]) => [x - cx, y - cy]);
      const radius = Math.max(...centred.map(([x, y]) => Math.hypot(x, y)));
      const w = Math.max(...ring.map((p) => p[0])) - Math.min(...ring.map((p) => p[0]));
      const h = Math.max(...ring.map((p) => p[1])) - Math.min(...ring.map((p) => p[1]));
      templates.push({ ring: centred, radius, weight: (512 * 512) / ((512 - w) * (512 - h)) });
    }
  }
  cache = { templates, countsPerTile };
  return cache;
}
