import { deflateSync, inflateSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { tileIdProblem } from '../data/types.ts';
import type { DataIssue } from '../data/errors.ts';
import { rleFromString, rleToString, type Rle } from './rle.ts';

/**
 * The Kaggle submission: CSV `id,height,width,prediction_string`; the string holds
 * space-joined triples `0 <confidence> <mask>`, `<mask>` = base64(zlib level 9(compressed RLE)).
 */

export interface Detection {
  score: number;
  rle: Rle;
  /** `encodeMaskString(rle)`, where it was computed already (a worker thread does it while the network runs). */
  maskString?: string;
}

export interface TilePredictions {
  id: string;
  height: number;
  width: number;
  detections: Detection[];
}

export function encodeMaskString(rle: Rle): string {
  return deflateSync(Buffer.from(rleToString(rle.counts), 'latin1'), { level: 9 }).toString('base64');
}

export function decodeMaskString(encoded: string, height: number, width: number): Rle {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('mask is not base64');
  // A height x width mask has at most h*w + 1 runs of at most 7 characters each: inflating
  // beyond that is a corrupt or hostile row (a 260 KB row that inflates to 200 MB killed the
  // process before this cap), and V8 strings stop at 2^29 characters anyway.
  const limit = Math.min(7 * (height * width + 1), 2 ** 28);
  let text: string;
  try {
    text = inflateSync(Buffer.from(encoded, 'base64'), { maxOutputLength: limit }).toString('latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`mask inflates past ${limit} bytes, more than a ${height}x${width} mask can need (corrupt or hostile data)`);
    throw new Error(`mask is not zlib data: ${(err as Error).message}`);
  }
  return rleFromString(text, height, width);
}

/** Shortest decimal that reads back as the same double: confidences keep their full ranking. */
function formatScore(score: number): string {
  return String(score);
}

export function formatPredictionString(detections: readonly Detection[]): string {
  return detections.map((d) => `0 ${formatScore(d.score)} ${d.maskString ?? encodeMaskString(d.rle)}`).join(' ');
}

export function formatSubmission(tiles: readonly TilePredictions[]): string {
  return stringify(
    tiles.map((t) => [t.id, t.height, t.width, formatPredictionString(t.detections)]),
    { header: true, columns: ['id', 'height', 'width', 'prediction_string'] },
  );
}

export interface ParsedSubmission {
  tiles: TilePredictions[];
  issues: DataIssue[];
}

/** Parse one prediction string; problems are reported per triple. */
export function parsePredictionString(text: string, height: number, width: number): { detections: Detection[]; problems: string[] } {
  const tokens = text.trim() === '' ? [] : text.trim().split(/\s+/);
  const detections: Detection[] = [];
  const problems: string[] = [];
  if (tokens.length % 3 !== 0) problems.push(`prediction_string has ${tokens.length} tokens, not a multiple of 3 (class confidence mask)`);
  for (let k = 0; k + 2 < tokens.length; k += 3) {
    const n = k / 3 + 1;
    const [cls, conf, mask] = [tokens[k]!, tokens[k + 1]!, tokens[k + 2]!];
    if (cls !== '0') problems.push(`detection ${n}: class must be 0, got ${JSON.stringify(cls)}`);
    const score = Number(conf);
    if (!Number.isFinite(score) || score < 0 || score > 1) {
      problems.push(`detection ${n}: confidence must be a number in [0, 1], got ${JSON.stringify(conf)}`);
      continue;
    }
    try {
      detections.push({ score, rle: decodeMaskString(mask, height, width) });
    } catch (err) {
      problems.push(`detection ${n}: ${(err as Error).message}`);
    }
  }
  return { detections, problems };
}

/**
 * Parse a submission CSV. Rows with problems are reported (file, line, tile id) and left out.
 * `expected` (tile id to size), when given, checks ids are known and sizes match.
 */
export function parseSubmission(text: string, file: string, expected?: ReadonlyMap<string, { height: number; width: number }>): ParsedSubmission {
  const issues: DataIssue[] = [];
  let rows: string[][];
  try {
    rows = parse(text, { skip_empty_lines: true, relax_column_count: true, bom: true }) as string[][];
  } catch (err) {
    return { tiles: [], issues: [{ file, message: `not valid CSV: ${(err as Error).message}` }] };
  }
  const header = rows[0]?.map((c) => c.trim()) ?? [];
  const want = ['id', 'height', 'width', 'prediction_string'];
  if (want.some((c, k) => header[k] !== c)) {
    return { tiles: [], issues: [{ file, line: 1, message: `header must be "${want.join(',')}", got "${header.join(',')}"` }] };
  }
  const tiles: TilePredictions[] = [];
  const seen = new Set<string>();
  rows.slice(1).forEach((row, k) => {
    const line = k + 2;
    const id = row[0] ?? '';
    const problem = tileIdProblem(id);
    if (problem) return issues.push({ file, line, message: problem });
    if (row.length !== 4) return issues.push({ file, line, tileId: id, message: `row has ${row.length} fields, expected 4` });
    if (seen.has(id)) return issues.push({ file, line, tileId: id, message: 'tile appears on more than one row' });
    seen.add(id);
    const height = Number(row[1]);
    const width = Number(row[2]);
    if (!Number.isInteger(height) || !Number.isInteger(width) || height <= 0 || width <= 0) {
      return issues.push({ file, line, tileId: id, message: `height and width must be positive integers, got ${row[1]}, ${row[2]}` });
    }
    if (expected) {
      const size = expected.get(id);
      if (!size) return issues.push({ file, line, tileId: id, message: 'tile id is not in the dataset' });
      if (size.height !== height || size.width !== width) {
        return issues.push({ file, line, tileId: id, message: `size ${width}x${height} does not match the tile's ${size.width}x${size.height}` });
      }
    }
    const { detections, problems } = parsePredictionString(row[3]!, height, width);
    for (const message of problems) issues.push({ file, line, tileId: id, message });
    tiles.push({ id, height, width, detections });
  });
  return { tiles, issues };
}
