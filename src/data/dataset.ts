import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseFolds } from './folds.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { assertDirectory, fsErrorMessage } from '../util/fs.ts';
import { formatTileMeta, formatWsiMeta, parseTileMeta, parseWsiMeta } from './csv.ts';
import { DatasetError, IssueCollector, type DataIssue } from './errors.ts';
import { encodeTiff, readRgb, type RgbImage } from './images.ts';
import { formatPolygons, parsePolygons } from './polygons.ts';
import { TILE_SIZE, tileIdProblem, type Annotation, type TileLabels, type TileMeta, type WsiMeta } from './types.ts';

export const FILES = {
  tileMeta: 'tile_meta.csv',
  wsiMeta: 'wsi_meta.csv',
  polygons: 'polygons.jsonl',
  train: 'train',
  test: 'test',
  /** Written by `data folds`; read by train, pipeline and report when present. */
  folds: 'folds.csv',
} as const;

export type Split = 'train' | 'test';

/** A dataset directory in the Kaggle layout, read and cross-checked. Images load on demand. */
export interface Dataset {
  dir: string;
  tiles: TileMeta[];
  tileById: Map<string, TileMeta>;
  wsis: WsiMeta[];
  /** Annotations per labelled tile, in file order, exact duplicates dropped. */
  labels: Map<string, Annotation[]>;
  duplicatesDropped: number;
  /** Ids that have `train/<id>.tif` (or `test/<id>.tif`). */
  images: Record<Split, Set<string>>;
  /** `folds.csv` (`id,fold`, as `data folds` writes) when the directory has one. */
  folds?: Map<string, number>;
  /** Every problem found (only filled when loaded with `strict: false`). */
  issues: DataIssue[];
}

export interface LoadOptions {
  /** Stop at the first problem (default). `data check` turns this off to list them all. */
  strict?: boolean;
  /**
   * Only what scoring needs: `polygons.jsonl` (required) and `tile_meta.csv` (optional, for
   * breakdowns by dataset and WSI); images are neither listed nor required.
   */
  labelsOnly?: boolean;
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(fsErrorMessage(err, path, 'a file of the Kaggle layout'));
  }
}

/** Ids of the `.tif`/`.tiff` files in a split folder (empty when the folder is absent). */
async function listImages(dir: string, issues: IssueCollector): Promise<Map<string, string>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw err;
  }
  const ids = new Map<string, string>();
  for (const name of names.sort()) {
    const m = /^(.*)\.tiff?$/i.exec(name);
    if (!m) continue;
    const problem = tileIdProblem(m[1]);
    if (problem) {
      issues.add({ file: join(dir, name), message: problem });
      continue;
    }
    ids.set(m[1]!, name);
  }
  return ids;
}

const imageNames = new WeakMap<Dataset, Record<Split, Map<string, string>>>();

/** Read and cross-check a dataset directory. Throws `DatasetError` on the first problem unless `strict: false`. */
export async function loadDataset(dir: string, options: LoadOptions = {}): Promise<Dataset> {
  await assertDirectory(dir, 'a dataset directory in the Kaggle layout (tile_meta.csv, polygons.jsonl, train/)');
  const issues = new IssueCollector(options.strict ?? true);
  const metaPath = join(dir, FILES.tileMeta);
  const labelsOnly = options.labelsOnly ?? false;
  const metaText = await readOptional(metaPath);
  if (metaText === null && !labelsOnly) issues.add({ file: metaPath, message: 'missing: every dataset needs tile_meta.csv (id,source_wsi,dataset,i,j)' });
  const tiles = metaText === null ? [] : parseTileMeta(metaText, metaPath, issues);
  const tileById = new Map(tiles.map((t) => [t.id, t]));

  const wsiPath = join(dir, FILES.wsiMeta);
  const wsiText = await readOptional(wsiPath);
  const wsis = wsiText === null ? [] : parseWsiMeta(wsiText, wsiPath, issues);

  const polyPath = join(dir, FILES.polygons);
  const polyText = await readOptional(polyPath);
  if (polyText === null && labelsOnly) issues.add({ file: polyPath, message: 'missing: the ground truth comes from polygons.jsonl' });
  const parsed = polyText === null ? { tiles: [], duplicatesDropped: 0 } : parsePolygons(polyText, polyPath, issues);

  const noImages = new Map<string, string>();
  const trainNames = labelsOnly ? noImages : await listImages(join(dir, FILES.train), issues);
  const testNames = labelsOnly ? noImages : await listImages(join(dir, FILES.test), issues);

  const labels = new Map<string, Annotation[]>();
  for (const t of parsed.tiles) {
    if (metaText !== null && !tileById.has(t.id)) {
      issues.add({ file: polyPath, tileId: t.id, message: 'labelled tile is not listed in tile_meta.csv' });
      continue;
    }
    if (!labelsOnly && !trainNames.has(t.id)) {
      issues.add({ file: join(dir, FILES.train, `${t.id}.tif`), tileId: t.id, message: 'labelled tile has no image' });
    }
    labels.set(t.id, t.annotations);
  }

  const foldsPath = join(dir, FILES.folds);
  const foldsText = labelsOnly ? null : await readOptional(foldsPath);
  const folds = foldsText === null ? undefined : parseFolds(foldsText, foldsPath, new Set(tileById.keys()), issues);

  const dataset: Dataset = {
    dir,
    folds,
    tiles,
    tileById,
    wsis,
    labels,
    duplicatesDropped: parsed.duplicatesDropped,
    images: { train: new Set(trainNames.keys()), test: new Set(testNames.keys()) },
    issues: issues.issues,
  };
  imageNames.set(dataset, { train: trainNames, test: testNames });
  return dataset;
}

/** Path of a tile's image, or null when it has none. */
export function imagePath(dataset: Dataset, id: string, split: Split = 'train'): string | null {
  const name = imageNames.get(dataset)?.[split].get(id);
  return name === undefined ? null : join(dataset.dir, split, name);
}

/** Decode a tile's image, checking it is 512x512 RGB. */
export async function readTileImage(dataset: Dataset, id: string, split: Split = 'train'): Promise<RgbImage> {
  const path = imagePath(dataset, id, split);
  if (path === null) {
    throw new DatasetError([{ file: join(dataset.dir, split, `${id}.tif`), tileId: id, message: 'tile has no image' }]);
  }
  return readRgb(path, { width: TILE_SIZE, height: TILE_SIZE }, id);
}

/** Tiles that have labels, in tile_meta order. */
export function labelledTiles(dataset: Dataset): TileMeta[] {
  return dataset.tiles.filter((t) => dataset.labels.has(t.id));
}

/** What `writeDataset` writes; images are given as a function so large datasets stream. */
export interface DatasetContent {
  tiles: readonly TileMeta[];
  wsis: readonly WsiMeta[];
  labels: readonly TileLabels[];
}

function checkIds(ids: Iterable<string>): void {
  const issues: DataIssue[] = [];
  for (const id of ids) {
    const problem = tileIdProblem(id);
    if (problem) issues.push({ file: 'tile_meta.csv', tileId: id, message: problem });
  }
  if (issues.length > 0) throw new DatasetError(issues);
}

/** Write the metadata and labels of a dataset in the Kaggle layout, each file atomically. */
export async function writeDatasetFiles(dir: string, content: DatasetContent): Promise<void> {
  checkIds([...content.tiles.map((t) => t.id), ...content.labels.map((t) => t.id)]);
  await writeFileAtomic(join(dir, FILES.tileMeta), formatTileMeta(content.tiles));
  await writeFileAtomic(join(dir, FILES.wsiMeta), formatWsiMeta(content.wsis));
  await writeFileAtomic(join(dir, FILES.polygons), formatPolygons(content.labels));
}

/** Write one tile image as `<split>/<id>.tif`, atomically. */
export async function writeTileImage(dir: string, id: string, image: RgbImage, split: Split = 'train'): Promise<void> {
  checkIds([id]);
  await writeFileAtomic(join(dir, split, `${id}.tif`), await encodeTiff(image));
}
