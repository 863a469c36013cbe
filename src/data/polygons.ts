import { IssueCollector } from './errors.ts';
import type { Point, Ring } from './rasterize.ts';
import { ANNOTATION_TYPES, TILE_SIZE, tileIdProblem, type Annotation, type AnnotationType, type TileLabels } from './types.ts';

export interface ParsedPolygons {
  tiles: TileLabels[];
  /** Exact duplicate annotations (same type, same coordinates, same tile) that were dropped. */
  duplicatesDropped: number;
}

export interface PolygonParseOptions {
  /** Tile size the coordinates must lie in: 0 <= x <= width, 0 <= y <= height. */
  width?: number;
  height?: number;
}

function isPoint(p: unknown): p is Point {
  return Array.isArray(p) && p.length === 2 && typeof p[0] === 'number' && typeof p[1] === 'number';
}

/** Why a ring is unusable, or null. Coordinates must be integer pixels inside the tile. */
function ringProblem(ring: unknown, width: number, height: number): string | null {
  if (!Array.isArray(ring)) return 'a ring must be an array of [x, y] points';
  if (ring.length < 3) return `a polygon needs at least 3 points, this ring has ${ring.length}`;
  for (const p of ring) {
    if (!isPoint(p)) return `point ${JSON.stringify(p)} is not an [x, y] pair of numbers`;
    const [x, y] = p;
    if (!Number.isInteger(x) || !Number.isInteger(y)) return `point [${x}, ${y}] is not on integer pixels`;
    if (x < 0 || y < 0 || x > width || y > height) return `point [${x}, ${y}] lies outside the ${width}x${height} tile`;
  }
  return null;
}

/** Parse one annotation object, or report why it is unusable. */
function parseAnnotation(raw: unknown, k: number, width: number, height: number): Annotation | string {
  if (typeof raw !== 'object' || raw === null) return `annotation ${k} is not an object`;
  const { type, coordinates } = raw as { type?: unknown; coordinates?: unknown };
  if (!ANNOTATION_TYPES.includes(type as AnnotationType)) {
    return `annotation ${k} has unknown type ${JSON.stringify(type)} (expected one of ${ANNOTATION_TYPES.join(', ')})`;
  }
  if (!Array.isArray(coordinates) || coordinates.length === 0) return `annotation ${k} (${String(type)}) has no coordinates`;
  for (const ring of coordinates) {
    const problem = ringProblem(ring, width, height);
    if (problem) return `annotation ${k} (${String(type)}): ${problem}`;
  }
  return { type: type as AnnotationType, coordinates: coordinates as Ring[] };
}

/**
 * Parse `polygons.jsonl`: one tile per line, `{"id", "annotations": [{"type", "coordinates"}]}`.
 * Unusable annotations are reported and left out; exact duplicates are dropped and counted.
 */
export function parsePolygons(text: string, file: string, issues: IssueCollector, options: PolygonParseOptions = {}): ParsedPolygons {
  const width = options.width ?? TILE_SIZE;
  const height = options.height ?? TILE_SIZE;
  const tiles: TileLabels[] = [];
  const seen = new Set<string>();
  let duplicatesDropped = 0;
  const lines = text.split('\n');
  lines.forEach((rawLine, k) => {
    const line = k + 1;
    const trimmed = rawLine.trim();
    if (trimmed === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch (err) {
      return issues.add({ file, line, message: `not valid JSON: ${(err as Error).message}` });
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      return issues.add({ file, line, message: 'each line must be a JSON object with "id" and "annotations"' });
    }
    const { id, annotations } = obj as { id?: unknown; annotations?: unknown };
    const idProblem = tileIdProblem(id);
    if (idProblem) return issues.add({ file, line, message: idProblem });
    const tileId = id as string;
    if (seen.has(tileId)) return issues.add({ file, line, tileId, message: 'tile appears on more than one line' });
    seen.add(tileId);
    if (!Array.isArray(annotations)) return issues.add({ file, line, tileId, message: '"annotations" must be an array' });
    const kept: Annotation[] = [];
    const keys = new Set<string>();
    annotations.forEach((raw, a) => {
      const parsed = parseAnnotation(raw, a, width, height);
      if (typeof parsed === 'string') return issues.add({ file, line, tileId, message: parsed });
      const key = parsed.type + JSON.stringify(parsed.coordinates);
      if (keys.has(key)) {
        duplicatesDropped++;
        return;
      }
      keys.add(key);
      kept.push(parsed);
    });
    tiles.push({ id: tileId, annotations: kept });
  });
  return { tiles, duplicatesDropped };
}

/** Write tiles in the `polygons.jsonl` line format (compact JSON, one tile per line). */
export function formatPolygons(tiles: readonly TileLabels[]): string {
  return tiles
    .map((t) => JSON.stringify({ id: t.id, annotations: t.annotations.map((a) => ({ type: a.type, coordinates: a.coordinates })) }) + '\n')
    .join('');
}
