import sharp from 'sharp';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import type { RgbImage } from '../data/images.ts';
import type { Annotation } from '../data/types.ts';
import { paintInstance, placeLabel, PREDICTED_COLOUR, TRUTH_COLOUR } from '../data/overlay.ts';
import { rasterize } from '../data/rasterize.ts';
import { decodeRle } from '../eval/rle.ts';
import { formatSubmission, type TilePredictions } from '../eval/submission.ts';
import { toCocoResults, toGeoJson, toLabelPng } from '../eval/export.ts';
import { TILE_SIZE } from '../data/types.ts';
import type { Prediction } from './predict.ts';

export const FORMATS = ['kaggle', 'coco', 'geojson', 'labels', 'overlay'] as const;
export type OutputFormat = (typeof FORMATS)[number];

export interface PredictedTile {
  id: string;
  image: RgbImage;
  predictions: Prediction[];
  /** The tile's own labels, when the source has them (overlays draw them). */
  truth?: Annotation[];
}

/** A tile's predictions as the evaluation and export encoders take them. */
export const tilePredictions = (id: string, predictions: readonly Prediction[]): TilePredictions =>
  ({ id, height: TILE_SIZE, width: TILE_SIZE, detections: predictions.map((p) => ({ score: p.score, rle: p.rle, maskString: p.maskString })) });

const asTile = (t: PredictedTile): TilePredictions => tilePredictions(t.id, t.predictions);

/** What an overlay shows: instances at or above this score (Ultralytics draws from 0.25). */
export const DEFAULT_SHOW_CONF = 0.25;

/**
 * A tile for eyes: predicted masks (score >= showConf) filled semi-transparent magenta with a
 * thin outline, true vessels green when the source has labels, scores written only where the
 * label fits inside its instance and clear of other labels.
 */
export async function overlayPng(t: PredictedTile, showConf = DEFAULT_SHOW_CONF): Promise<Buffer> {
  const data = new Uint8Array(t.image.data);
  const S = TILE_SIZE;
  for (const a of t.truth ?? []) if (a.type === 'blood_vessel') paintInstance(data, rasterize(a.coordinates, S, S), S, S, TRUTH_COLOUR, 0);
  const shown = t.predictions.filter((p) => p.score >= showConf).sort((a, b) => b.score - a.score);
  const placed: [number, number, number, number][] = [];
  const labels: string[] = [];
  for (const p of shown) {
    paintInstance(data, decodeRle(p.rle), S, S, PREDICTED_COLOUR);
    const text = p.score.toFixed(2);
    const at = placeLabel(placed, p.box, text);
    if (at) labels.push(`<text x="${at.x.toFixed(0)}" y="${at.y.toFixed(0)}" font-size="10" fill="#ffffff" stroke="#000000" stroke-width="0.4" font-family="sans-serif">${text}</text>`);
  }
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${S}" height="${S}">${labels.join('')}</svg>`);
  return sharp(Buffer.from(data), { raw: { width: S, height: S, channels: 3 } }).composite([{ input: svg }]).png().toBuffer();
}

/** Write predictions in a format other tools read; `out` is a file (kaggle, coco) or a directory. */
export async function writePredictions(format: OutputFormat, out: string, tiles: readonly PredictedTile[], showConf = DEFAULT_SHOW_CONF): Promise<void> {
  switch (format) {
    case 'kaggle': return writeFileAtomic(out, formatSubmission(tiles.map(asTile)));
    case 'coco': return writeFileAtomic(out, JSON.stringify(toCocoResults(tiles.map(asTile))));
    case 'geojson':
      for (const t of tiles) await writeFileAtomic(join(out, `${t.id}.geojson`), JSON.stringify(toGeoJson(asTile(t))));
      return;
    case 'labels':
      for (const t of tiles) await writeFileAtomic(join(out, `${t.id}.png`), await toLabelPng(asTile(t)));
      return;
    case 'overlay':
      for (const t of tiles) await writeFileAtomic(join(out, `${t.id}.png`), await overlayPng(t, showConf));
      return;
  }
}

/** Default output path per format, under the run directory. */
export function defaultOutput(runDir: string, format: OutputFormat): string {
  return format === 'kaggle' ? join(runDir, 'submission.csv') : format === 'coco' ? join(runDir, 'predictions.json') : join(runDir, format);
}
