import { copyFile, link, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { maskToRings } from '../data/contour.ts';
import { FILES, imagePath, writeDatasetFiles, type Dataset } from '../data/dataset.ts';
import { IssueCollector } from '../data/errors.ts';
import { parsePolygons } from '../data/polygons.ts';
import type { Annotation, TileLabels } from '../data/types.ts';
import { decodeRle } from '../eval/rle.ts';
import { groundTruthTile, type GroundTruthTile } from '../eval/groundtruth.ts';
import { evaluateOid } from '../eval/metric.ts';
import type { Prediction } from '../infer/predict.ts';
import { writeDirAtomic } from '../util/atomic.ts';

/** The seed's pseudo-label rule: instances above `conf`, tiles whose mean kept confidence is above `tileConf`. */
export interface PseudoRule {
  conf: number;
  tileConf: number;
}

export const SEED_PSEUDO_RULE: PseudoRule = { conf: 0.5, tileConf: 0.6 };

export interface PseudoTile {
  id: string;
  annotations: Annotation[];
  meanScore: number;
}

export interface PseudoSummary {
  tilesPredicted: number;
  tilesKept: number;
  instances: number;
  byDataset: Record<string, { predicted: number; kept: number; instances: number }>;
  /** Against the hidden truth (synthetic data only), on the kept tiles, matched at mask IoU 0.6. */
  quality?: { precision: number; recall: number; truthVessels: number };
}

/**
 * Apply the rule to one tile's predictions: the kept instances as polygon annotations
 * (each mask's outer boundary; masks too small to make a polygon are dropped), or null when
 * the tile fails the mean-confidence test or keeps nothing.
 */
export function selectPseudoLabels(id: string, predictions: readonly Prediction[], rule: PseudoRule): PseudoTile | null {
  const kept = predictions.filter((p) => p.score > rule.conf);
  if (kept.length === 0) return null;
  const meanScore = kept.reduce((s, p) => s + p.score, 0) / kept.length;
  if (meanScore <= rule.tileConf) return null;
  const annotations: Annotation[] = [];
  for (const p of kept) {
    const ring = maskToRings(decodeRle(p.rle), p.rle.width, p.rle.height)[0];
    if (ring && ring.length >= 3) annotations.push({ type: 'blood_vessel', coordinates: [ring] });
  }
  return annotations.length > 0 ? { id, annotations, meanScore } : null;
}

/** The synthetic generator's hidden truth (`truth/polygons.jsonl`), or null for real data. */
export async function loadHiddenTruth(dataDir: string): Promise<Map<string, Annotation[]> | null> {
  const file = join(dataDir, 'truth', FILES.polygons);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const parsed = parsePolygons(text, file, new IssueCollector(true));
  return new Map(parsed.tiles.map((t) => [t.id, t.annotations]));
}

/** Ground truth of the given tiles from a label map (tiles without labels have no vessels). */
export function groundTruthOf(labels: ReadonlyMap<string, Annotation[]>, ids: Iterable<string>): Map<string, GroundTruthTile> {
  return new Map([...ids].map((id) => [id, groundTruthTile(id, labels.get(id) ?? [])]));
}

/** Precision and recall at mask IoU 0.6 of pseudo labels against the hidden truth. */
export function pseudoQuality(tiles: readonly PseudoTile[], truth: ReadonlyMap<string, Annotation[]>): NonNullable<PseudoSummary['quality']> {
  const gt = groundTruthOf(truth, tiles.map((t) => t.id));
  const preds = new Map(tiles.map((t) => {
    const tile = groundTruthTile(t.id, t.annotations);
    return [t.id, tile.vessels.map((v) => ({ score: 1, rle: v.rle }))];
  }));
  const r = evaluateOid(gt, preds);
  return { precision: r.tp + r.fp > 0 ? r.tp / (r.tp + r.fp) : 0, recall: r.numGt > 0 ? r.tp / r.numGt : 0, truthVessels: r.numGt };
}

/** Hard-link an image into the new dataset (copy across filesystems). */
async function linkImage(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

/**
 * Write the pseudo-labelled dataset, in the Kaggle layout, atomically: every tile of the
 * source (so folds of dataset 1 are the same), dataset 1 with its expert labels, the kept
 * tiles of the pseudo-labelled datasets with their pseudo labels (their original labels, if
 * any, replaced), the rest unlabelled. Images are hard links to the source's.
 */
export async function writePseudoDataset(out: string, source: Dataset, pseudo: readonly PseudoTile[], keepDatasets: readonly number[] = [1]): Promise<void> {
  const labels: TileLabels[] = [];
  const pseudoIds = new Set(pseudo.map((t) => t.id));
  for (const t of source.tiles) {
    const own = source.labels.get(t.id);
    if (own && keepDatasets.includes(t.dataset) && !pseudoIds.has(t.id)) labels.push({ id: t.id, annotations: own });
  }
  for (const t of pseudo) labels.push({ id: t.id, annotations: t.annotations });
  await writeDirAtomic(out, async (tmp) => {
    await writeDatasetFiles(tmp, { tiles: source.tiles, wsis: source.wsis, labels });
    await mkdir(join(tmp, FILES.train), { recursive: true });
    for (const id of source.images.train) await linkImage(imagePath(source, id, 'train')!, join(tmp, FILES.train, `${id}.tif`));
  });
}

export function summarize(predicted: readonly { id: string; dataset: number }[], pseudo: readonly PseudoTile[]): PseudoSummary {
  const kept = new Map(pseudo.map((t) => [t.id, t]));
  const byDataset: PseudoSummary['byDataset'] = {};
  for (const p of predicted) {
    const d = (byDataset[String(p.dataset)] ??= { predicted: 0, kept: 0, instances: 0 });
    d.predicted++;
    const k = kept.get(p.id);
    if (k) { d.kept++; d.instances += k.annotations.length; }
  }
  return { tilesPredicted: predicted.length, tilesKept: pseudo.length, instances: pseudo.reduce((s, t) => s + t.annotations.length, 0), byDataset };
}
