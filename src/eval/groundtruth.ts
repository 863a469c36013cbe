import { loadDataset } from '../data/dataset.ts';
import type { DataIssue } from '../data/errors.ts';
import { rasterize } from '../data/rasterize.ts';
import { TILE_SIZE, type Annotation } from '../data/types.ts';
import { encodeMask, rleArea, rleBbox, type Rle } from './rle.ts';

/** A mask with its area and box precomputed: every IoU of a tile reuses them. */
export interface Region {
  rle: Rle;
  area: number;
  box: [number, number, number, number];
}

export function toRegion(rle: Rle): Region {
  return { rle, area: rleArea(rle), box: rleBbox(rle) };
}

/** One tile's ground truth: vessels are scored; `unsure` and `glomerulus` regions are not. */
export interface GroundTruthTile {
  id: string;
  height: number;
  width: number;
  vessels: Region[];
  unsure: Region[];
  glomeruli: Region[];
  dataset?: number;
  wsi?: number;
}

export function groundTruthTile(id: string, annotations: readonly Annotation[], size = TILE_SIZE): GroundTruthTile {
  const tile: GroundTruthTile = { id, height: size, width: size, vessels: [], unsure: [], glomeruli: [] };
  for (const a of annotations) {
    const region = toRegion(encodeMask(rasterize(a.coordinates, size, size), size, size));
    if (a.type === 'blood_vessel') tile.vessels.push(region);
    else if (a.type === 'unsure') tile.unsure.push(region);
    else tile.glomeruli.push(region);
  }
  return tile;
}

/**
 * Ground truth of a dataset directory: `polygons.jsonl`, plus `tile_meta.csv` when present.
 * No images needed. With `skipBad`, bad records are left out and returned as `skipped`.
 */
export async function loadGroundTruth(dir: string, options: { skipBad?: boolean } = {}): Promise<Map<string, GroundTruthTile> & { skipped?: DataIssue[] }> {
  const ds = await loadDataset(dir, { labelsOnly: true, strict: !options.skipBad });
  const out: Map<string, GroundTruthTile> & { skipped?: DataIssue[] } = new Map<string, GroundTruthTile>();
  out.skipped = ds.issues;
  for (const [id, annotations] of ds.labels) {
    const tile = groundTruthTile(id, annotations);
    const meta = ds.tileById.get(id);
    if (meta) {
      tile.dataset = meta.dataset;
      tile.wsi = meta.sourceWsi;
    }
    out.set(id, tile);
  }
  return out;
}
