import type { Ring } from './rasterize.ts';

export const ANNOTATION_TYPES = ['blood_vessel', 'glomerulus', 'unsure'] as const;
export type AnnotationType = (typeof ANNOTATION_TYPES)[number];

/** One labelled region: `coordinates` is `[ring][point][x, y]`, as in `polygons.jsonl`. */
export interface Annotation {
  type: AnnotationType;
  coordinates: Ring[];
}

/** One line of `polygons.jsonl`. */
export interface TileLabels {
  id: string;
  annotations: Annotation[];
}

/** One row of `tile_meta.csv`: `i, j` is the tile's upper-left corner in its WSI, in pixels. */
export interface TileMeta {
  id: string;
  sourceWsi: number;
  dataset: number;
  i: number;
  j: number;
}

/** One row of `wsi_meta.csv`: the WSI number and its other columns as written. */
export interface WsiMeta {
  sourceWsi: number;
  fields: Record<string, string>;
}

/** The competition's tiles are 512x512 RGB. */
export const TILE_SIZE = 512;

/**
 * Tile ids name files (`train/<id>.tif`), so they must be plain file names: no path
 * separators, no `..`, nothing that could make the tool read or write outside the dataset.
 */
const TILE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export function tileIdProblem(id: unknown): string | null {
  if (typeof id !== 'string' || id.length === 0) return 'tile id must be a non-empty string';
  if (id.length > 128) return `tile id "${id.slice(0, 20)}..." is longer than 128 characters`;
  if (!TILE_ID.test(id)) return `tile id ${JSON.stringify(id)} is not a plain file name (letters, digits, "_" and "-" only)`;
  return null;
}
