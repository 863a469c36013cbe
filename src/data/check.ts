import { quantile, sortedNumbers } from '../util/stats.ts';
import type { DataIssue } from './errors.ts';
import { probeImage } from './images.ts';
import { imagePath, loadDataset, type Dataset } from './dataset.ts';
import { rasterize } from './rasterize.ts';
import { ANNOTATION_TYPES, TILE_SIZE, type AnnotationType } from './types.ts';

export interface DatasetSummary {
  dir: string;
  tiles: number;
  tilesByDatasetAndWsi: { dataset: number; wsi: number; tiles: number; labelled: number; images: number }[];
  annotations: Record<AnnotationType, number>;
  labelledTiles: number;
  vesselsPerTile: { median: number; mean: number; max: number };
  /** Vessel areas in pixels as `cv2.fillPoly` rasterises them. */
  vesselArea: { p5: number; p25: number; median: number; p75: number; p95: number; max: number } | null;
  duplicatesDropped: number;
  tilesWithoutImages: number;
  imagesWithoutMetadata: number;
  testImages: number;
}

export interface CheckResult {
  summary: DatasetSummary;
  issues: DataIssue[];
}

/** Per-split image checks, header only: size and channels. */
async function checkImageHeaders(dataset: Dataset, issues: DataIssue[]): Promise<void> {
  for (const split of ['train', 'test'] as const) {
    for (const id of dataset.images[split]) {
      const path = imagePath(dataset, id, split)!;
      try {
        const { width, height, channels } = await probeImage(path);
        if (width !== TILE_SIZE || height !== TILE_SIZE) issues.push({ file: path, tileId: id, message: `image is ${width}x${height}, expected ${TILE_SIZE}x${TILE_SIZE}` });
        else if (channels !== 3) issues.push({ file: path, tileId: id, message: `image has ${channels} channels, expected 3 (RGB)` });
      } catch (err) {
        issues.push({ file: path, tileId: id, message: `cannot read image: ${(err as Error).message}` });
      }
    }
  }
}

export function summarize(dataset: Dataset): DatasetSummary {
  const groups = new Map<string, DatasetSummary['tilesByDatasetAndWsi'][number]>();
  for (const t of dataset.tiles) {
    const key = `${t.dataset}/${t.sourceWsi}`;
    const g = groups.get(key) ?? { dataset: t.dataset, wsi: t.sourceWsi, tiles: 0, labelled: 0, images: 0 };
    g.tiles++;
    if (dataset.labels.has(t.id)) g.labelled++;
    if (dataset.images.train.has(t.id)) g.images++;
    groups.set(key, g);
  }
  const annotations = Object.fromEntries(ANNOTATION_TYPES.map((t) => [t, 0])) as Record<AnnotationType, number>;
  const perTile: number[] = [];
  const areas: number[] = [];
  for (const anns of dataset.labels.values()) {
    let vessels = 0;
    for (const a of anns) {
      annotations[a.type]++;
      if (a.type !== 'blood_vessel') continue;
      vessels++;
      const mask = rasterize(a.coordinates, TILE_SIZE, TILE_SIZE);
      let area = 0;
      for (let p = 0; p < mask.length; p++) area += mask[p]!;
      areas.push(area);
    }
    perTile.push(vessels);
  }
  const sortedAreas = sortedNumbers(areas);
  const sortedPerTile = sortedNumbers(perTile);
  const known = dataset.tileById;
  return {
    dir: dataset.dir,
    tiles: dataset.tiles.length,
    tilesByDatasetAndWsi: [...groups.values()].sort((a, b) => a.dataset - b.dataset || a.wsi - b.wsi),
    annotations,
    labelledTiles: dataset.labels.size,
    vesselsPerTile: {
      median: quantile(sortedPerTile, 0.5) || 0,
      mean: perTile.length ? perTile.reduce((s, v) => s + v, 0) / perTile.length : 0,
      max: sortedPerTile.at(-1) ?? 0,
    },
    vesselArea: sortedAreas.length === 0 ? null : {
      p5: quantile(sortedAreas, 0.05), p25: quantile(sortedAreas, 0.25), median: quantile(sortedAreas, 0.5),
      p75: quantile(sortedAreas, 0.75), p95: quantile(sortedAreas, 0.95), max: sortedAreas.at(-1)!,
    },
    duplicatesDropped: dataset.duplicatesDropped,
    tilesWithoutImages: dataset.tiles.filter((t) => !dataset.images.train.has(t.id)).length,
    imagesWithoutMetadata: [...dataset.images.train].filter((id) => !known.has(id)).length,
    testImages: dataset.images.test.size,
  };
}

/** Validate everything in a dataset directory and summarise it; lists every problem. */
export async function checkDataset(dir: string): Promise<CheckResult> {
  const dataset = await loadDataset(dir, { strict: false });
  const issues = [...dataset.issues];
  await checkImageHeaders(dataset, issues);
  return { summary: summarize(dataset), issues };
}

const fmt = (v: number, digits = 0) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function formatSummary(s: DatasetSummary): string {
  const lines: string[] = [];
  lines.push(`dataset ${s.dir}`);
  lines.push(`tiles: ${fmt(s.tiles)} (${fmt(s.labelledTiles)} labelled, ${fmt(s.testImages)} test images)`);
  lines.push('');
  lines.push('dataset  wsi  tiles  labelled  images');
  for (const g of s.tilesByDatasetAndWsi) {
    lines.push(`${String(g.dataset).padStart(7)}  ${String(g.wsi).padStart(3)}  ${fmt(g.tiles).padStart(5)}  ${fmt(g.labelled).padStart(8)}  ${fmt(g.images).padStart(6)}`);
  }
  lines.push('');
  lines.push(`annotations: ${ANNOTATION_TYPES.map((t) => `${t} ${fmt(s.annotations[t])}`).join(', ')}`);
  lines.push(`vessels per labelled tile: median ${fmt(s.vesselsPerTile.median, 1)}, mean ${fmt(s.vesselsPerTile.mean, 1)}, max ${fmt(s.vesselsPerTile.max)}`);
  if (s.vesselArea) {
    const a = s.vesselArea;
    lines.push(`vessel area (px): 5% ${fmt(a.p5)}, 25% ${fmt(a.p25)}, median ${fmt(a.median)}, 75% ${fmt(a.p75)}, 95% ${fmt(a.p95)}, max ${fmt(a.max)}`);
  }
  lines.push(`exact duplicate annotations dropped: ${fmt(s.duplicatesDropped)}`);
  lines.push(`tiles without images: ${fmt(s.tilesWithoutImages)}`);
  lines.push(`images without metadata: ${fmt(s.imagesWithoutMetadata)}`);
  return lines.join('\n');
}

