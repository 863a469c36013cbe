import sharp from 'sharp';
import { readTileImage, type Dataset } from '../data/dataset.ts';
import { rasterize } from '../data/rasterize.ts';
import { paintInstance, PREDICTED_COLOUR, TRUTH_COLOUR } from '../data/overlay.ts';
import type { Annotation } from '../data/types.ts';
import { decodeRle } from '../eval/rle.ts';
import { averagePrecision, matchTileOid } from '../eval/metric.ts';
import { groundTruthTile } from '../eval/groundtruth.ts';
import type { Detection } from '../eval/submission.ts';

export interface TileScore {
  id: string;
  vessels: number;
  tp: number;
  fp: number;
  fn: number;
  /** F1 at IoU 0.6 over the detections shown (score >= minScore). */
  f1: number;
  /** AP@0.6 of the tile alone (NaN without vessels). */
  ap: number;
}

/** Per-tile scores at IoU 0.6, worst first (lowest F1, then most vessels missed). */
export function scoreTiles(labels: ReadonlyMap<string, Annotation[]>, preds: ReadonlyMap<string, readonly Detection[]>, minScore: number): TileScore[] {
  const out: TileScore[] = [];
  for (const [id, dets] of preds) {
    const gt = groundTruthTile(id, labels.get(id) ?? []);
    const all = matchTileOid(gt, dets).matched;
    const shown = matchTileOid(gt, dets.filter((d) => d.score >= minScore)).matched;
    const tp = shown.filter((m) => m.tp).length, fp = shown.length - tp, fn = gt.vessels.length - tp;
    out.push({ id, vessels: gt.vessels.length, tp, fp, fn, f1: tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn), ap: averagePrecision(all, gt.vessels.length).ap });
  }
  return out.sort((a, b) => a.f1 - b.f1 || b.fn - a.fn || (a.id < b.id ? -1 : 1));
}

/**
 * A tile with its true vessels outlined green and predicted masks (score >= minScore) magenta,
 * as a PNG of `size` px.
 */
export async function galleryTile(ds: Dataset, id: string, labels: readonly Annotation[], dets: readonly Detection[], minScore: number, size = 256): Promise<Buffer> {
  const img = await readTileImage(ds, id);
  const data = new Uint8Array(img.data);
  // The overlay's rules (data/overlay.ts): truth as outlines, predictions filled semi-transparent.
  for (const a of labels) if (a.type === 'blood_vessel') paintInstance(data, rasterize(a.coordinates, img.width, img.height), img.width, img.height, TRUTH_COLOUR, 0);
  for (const d of dets) if (d.score >= minScore) paintInstance(data, decodeRle(d.rle), img.width, img.height, PREDICTED_COLOUR);
  return sharp(Buffer.from(data), { raw: { width: img.width, height: img.height, channels: 3 } }).resize(size, size).png().toBuffer();
}
