import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { IssueCollector } from './errors.ts';
import { tileIdProblem, type TileMeta, type WsiMeta } from './types.ts';

type Row = Record<string, string>;

/**
 * Parse CSV text with a header; reports missing columns once, for the whole file. Accepts the
 * dialects other tools write: a BOM, CRLF, quoted header names (pandas, R), and `;` or tab
 * separators (spreadsheets in many locales) when the header has no comma.
 */
export function parseCsv(text: string, file: string, required: readonly string[], issues: IssueCollector): Row[] | null {
  const body = text.replace(/^\uFEFF/, '');
  const firstLine = body.split(/\r?\n/, 1)[0]!;
  const delimiter = firstLine.includes(',') ? ',' : firstLine.includes(';') ? ';' : firstLine.includes('\t') ? '\t' : ',';
  let records: string[][];
  try {
    records = parse(body, { skip_empty_lines: true, trim: true, delimiter, relax_column_count: true }) as string[][];
  } catch (err) {
    issues.add({ file, message: `not valid CSV: ${(err as Error).message}` });
    return null;
  }
  const header = records[0] ?? [];
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    issues.add({ file, line: 1, message: `missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (header is "${header.join(delimiter)}")` });
    return null;
  }
  return records.slice(1).map((r) => Object.fromEntries(header.map((h, k) => [h, r[k] ?? ''])));
}

/** An integer field; zero-padded numbers ("0042") and integral floats ("512.0") are accepted, as some exports write them. */
function integerField(row: Row, column: string, file: string, line: number, issues: IssueCollector, tileId?: string): number | null {
  // pandas writes integer columns that held a missing value as floats ("512.0").
  const raw = (row[column] ?? '').replace(/\.0+$/, '');
  if (!/^-?\d+$/.test(raw)) {
    issues.add({ file, line, tileId, message: `column ${column} must be an integer, got ${JSON.stringify(raw)}` });
    return null;
  }
  return Number.parseInt(raw, 10);
}

export const TILE_META_COLUMNS = ['id', 'source_wsi', 'dataset', 'i', 'j'] as const;

export function parseTileMeta(text: string, file: string, issues: IssueCollector): TileMeta[] {
  const rows = parseCsv(text, file, TILE_META_COLUMNS, issues);
  if (!rows) return [];
  const tiles: TileMeta[] = [];
  const seen = new Set<string>();
  rows.forEach((row, k) => {
    const line = k + 2; // header is line 1
    const id = row.id ?? '';
    const problem = tileIdProblem(id);
    if (problem) return issues.add({ file, line, message: problem });
    if (seen.has(id)) return issues.add({ file, line, tileId: id, message: 'tile listed twice' });
    seen.add(id);
    const sourceWsi = integerField(row, 'source_wsi', file, line, issues, id);
    const dataset = integerField(row, 'dataset', file, line, issues, id);
    const i = integerField(row, 'i', file, line, issues, id);
    const j = integerField(row, 'j', file, line, issues, id);
    if (sourceWsi === null || dataset === null || i === null || j === null) return;
    tiles.push({ id, sourceWsi, dataset, i, j });
  });
  return tiles;
}

export function formatTileMeta(tiles: readonly TileMeta[]): string {
  return stringify(tiles.map((t) => [t.id, t.sourceWsi, t.dataset, t.i, t.j]), { header: true, columns: [...TILE_META_COLUMNS] });
}

export function parseWsiMeta(text: string, file: string, issues: IssueCollector): WsiMeta[] {
  const rows = parseCsv(text, file, ['source_wsi'], issues);
  if (!rows) return [];
  const out: WsiMeta[] = [];
  rows.forEach((row, k) => {
    const sourceWsi = integerField(row, 'source_wsi', file, k + 2, issues);
    if (sourceWsi !== null) out.push({ sourceWsi, fields: row });
  });
  return out;
}

export function formatWsiMeta(wsis: readonly WsiMeta[]): string {
  const columns = ['source_wsi', ...new Set(wsis.flatMap((w) => Object.keys(w.fields).filter((c) => c !== 'source_wsi')))];
  return stringify(
    wsis.map((w) => columns.map((c) => (c === 'source_wsi' ? String(w.sourceWsi) : w.fields[c] ?? ''))),
    { header: true, columns },
  );
}
