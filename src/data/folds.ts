import { stringify } from 'csv-stringify/sync';
import { mulberry32 } from '../util/stats.ts';
import { parseCsv } from './csv.ts';
import { IssueCollector } from './errors.ts';
import type { TileMeta } from './types.ts';

export type FoldStrategy = 'auto' | 'wsi' | 'band';

export interface FoldOptions {
  k: number;
  seed?: number;
  /**
   * `wsi`: whole WSIs per fold (needs at least k WSIs). `band`: within each WSI, contiguous
   * bands of the grid row `i`, so neighbouring tiles (which share vessels across their
   * borders) stay in one fold except at band edges. `auto`: `wsi` when there are enough WSIs.
   */
  strategy?: FoldStrategy;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let k = out.length - 1; k > 0; k--) {
    const r = Math.floor(random() * (k + 1));
    [out[k], out[r]] = [out[r]!, out[k]!];
  }
  return out;
}

function byWsi(tiles: readonly TileMeta[]): Map<number, TileMeta[]> {
  const groups = new Map<number, TileMeta[]>();
  for (const t of tiles) {
    const g = groups.get(t.sourceWsi);
    if (g) g.push(t);
    else groups.set(t.sourceWsi, [t]);
  }
  return groups;
}

/** Assign every tile a fold in [0, k). Deterministic for a seed. */
export function makeFolds(tiles: readonly TileMeta[], options: FoldOptions): Map<string, number> {
  const { k } = options;
  if (!Number.isInteger(k) || k < 2) throw new Error(`folds: k must be an integer >= 2, got ${k}`);
  const random = mulberry32(options.seed ?? 0);
  const groups = byWsi(tiles);
  const wsiIds = [...groups.keys()].sort((a, b) => a - b);
  let strategy = options.strategy ?? 'auto';
  if (strategy === 'auto') strategy = wsiIds.length >= k ? 'wsi' : 'band';
  if (strategy === 'wsi' && wsiIds.length < k) {
    throw new Error(`folds: ${k} folds by WSI need at least ${k} WSIs, these tiles come from ${wsiIds.length}; use --strategy band`);
  }
  const fold = new Map<string, number>();
  if (strategy === 'wsi') {
    // Largest WSIs first into the emptiest fold: folds as even as whole WSIs allow.
    const order = shuffled(wsiIds, random).sort((a, b) => groups.get(b)!.length - groups.get(a)!.length);
    const sizes = new Array<number>(k).fill(0);
    for (const wsi of order) {
      const target = sizes.indexOf(Math.min(...sizes));
      for (const t of groups.get(wsi)!) fold.set(t.id, target);
      sizes[target]! += groups.get(wsi)!.length;
    }
    return fold;
  }
  for (const wsi of wsiIds) {
    const members = [...groups.get(wsi)!].sort((a, b) => a.i - b.i || a.j - b.j || (a.id < b.id ? -1 : 1));
    const bandToFold = shuffled([...Array(k).keys()], random);
    const n = members.length;
    let start = 0;
    while (start < n) {
      // Tiles of one grid row never straddle two bands.
      let end = start;
      while (end < n && members[end]!.i === members[start]!.i) end++;
      const band = Math.min(k - 1, Math.floor(((start + end) / 2) * k / n));
      for (let m = start; m < end; m++) fold.set(members[m]!.id, bandToFold[band]!);
      start = end;
    }
  }
  return fold;
}

export function formatFolds(folds: Map<string, number>): string {
  return stringify([...folds].map(([id, f]) => [id, f]), { header: true, columns: ['id', 'fold'] });
}

/** Read `folds.csv` (`id,fold`); every id must be a known tile. */
export function parseFolds(text: string, file: string, knownIds: ReadonlySet<string>, issues: IssueCollector): Map<string, number> {
  const rows = parseCsv(text, file, ['id', 'fold'], issues);
  const folds = new Map<string, number>();
  (rows ?? []).forEach((row, k) => {
    const line = k + 2;
    const id = row.id ?? '';
    if (!knownIds.has(id)) return issues.add({ file, line, tileId: id, message: 'fold given for a tile that is not in the dataset' });
    if (!/^\d+$/.test(row.fold ?? '')) return issues.add({ file, line, tileId: id, message: `fold must be a non-negative integer, got ${JSON.stringify(row.fold)}` });
    folds.set(id, Number(row.fold));
  });
  return folds;
}

/**
 * The expert (dataset-1) folds that training holds out, the pipeline scores out of fold and
 * `data folds` writes: the dataset's `folds.csv` when it has one (checked against k), else
 * `makeFolds` of its labelled dataset-1 tiles. One split function, one file.
 */
export function expertFolds(ds: { dir: string; tiles: readonly TileMeta[]; labels: ReadonlyMap<string, unknown>; folds?: ReadonlyMap<string, number> }, k: number, seed: number): Map<string, number> {
  const expert = ds.tiles.filter((t) => t.dataset === 1 && ds.labels.has(t.id));
  if (!ds.folds) return makeFolds(expert, { k, seed });
  const file = `${ds.dir}/folds.csv`;
  const out = new Map<string, number>();
  for (const t of expert) {
    const f = ds.folds.get(t.id);
    if (f === undefined) throw new Error(`${file}: labelled dataset-1 tile ${t.id} has no fold; rewrite it with vascseg data folds ${ds.dir} -k ${k}`);
    if (f >= k) throw new Error(`${file}: tile ${t.id} is in fold ${f}, but ${k} folds (0..${k - 1}) were asked for; use --folds ${Math.max(...ds.folds.values()) + 1} or rewrite folds.csv with -k ${k}`);
    out.set(t.id, f);
  }
  return out;
}
