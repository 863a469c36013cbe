import sharp from 'sharp';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import type { RgbImage } from '../data/images.ts';
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
}

/** A tile's predictions as the evaluation and export encoders take them. */
export const tilePredictions = (id: string, predictions: readonly Prediction[]): TilePredictions =>
  ({ id, height: TILE_SIZE, width: TILE_SIZE, detections: predictions.map((p) => ({ score: p.score, rle: p.rle })) });

const asTile = (t: PredictedTile): TilePredictions => tilePredictions(t.id, t.predictions);

/** A tile with each predicted mask outlined (cyan) and its score written beside it. */
export async function overlayPng(t: PredictedTile): Promise<Buffer> {
  const data = new Uint8Array(t.image.data);
  const S = TILE_SIZE;
  const labels: string[] = [];
  for (const p of t.predictions) {
    const m = decodeRle(p.rle);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      const q = y * S + x;
      if (m[q] && (x === 0 || y === 0 || x === S - 1 || y === S - 1 || !m[q - 1] || !m[q + 1] || !m[q - S] || !m[q + S])) data.set([0, 230, 255], q * 3);
    }
    labels.push(`<text x="${Math.max(0, p.box[0]).toFixed(0)}" y="${Math.max(10, p.box[1] - 2).toFixed(0)}" font-size="10" fill="#00e6ff" font-family="sans-serif">${p.score.toFixed(2)}</text>`);
  }
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${S}" height="${S}">${labels.join('')}</svg>`);
  return sharp(Buffer.from(data), { raw: { width: S, height: S, channels: 3 } }).composite([{ input: svg }]).png().toBuffer();
}

/** Write predictions in a format other tools read; `out` is a file (kaggle, coco) or a directory. */
export async function writePredictions(format: OutputFormat, out: string, tiles: readonly PredictedTile[]): Promise<void> {
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
      for (const t of tiles) await writeFileAtomic(join(out, `${t.id}.png`), await overlayPng(t));
      return;
  }
}

/** Default output path per format, under the run directory. */
export function defaultOutput(runDir: string, format: OutputFormat): string {
  return format === 'kaggle' ? join(runDir, 'submission.csv') : format === 'coco' ? join(runDir, 'predictions.json') : join(runDir, format);
}
