import sharp from 'sharp';
import { maskToRings } from '../data/contour.ts';
import { rasterize, type Point } from '../data/rasterize.ts';
import { ANNOTATION_TYPES, type AnnotationType } from '../data/types.ts';
import { decodeRle, encodeMask, rleFromString, rleToString, type Rle } from './rle.ts';
import type { TilePredictions } from './submission.ts';

/** COCO category ids: 1-based, in the order of the competition's classes. */
export const CATEGORY_IDS: Record<AnnotationType, number> = { blood_vessel: 1, glomerulus: 2, unsure: 3 };

export interface CocoResultEntry {
  image_id: string;
  category_id: number;
  segmentation: { size: [number, number]; counts: string };
  score: number;
}

/** COCO results JSON (what `COCO.loadRes` reads): compressed RLE, score, image id = tile id. */
export function toCocoResults(tiles: readonly TilePredictions[]): CocoResultEntry[] {
  return tiles.flatMap((t) => t.detections.map((d) => ({
    image_id: t.id,
    category_id: CATEGORY_IDS.blood_vessel,
    segmentation: { size: [d.rle.height, d.rle.width] as [number, number], counts: rleToString(d.rle.counts) },
    score: d.score,
  })));
}

/** Read COCO results JSON back; only `blood_vessel` (category 1) entries are kept. */
export function fromCocoResults(entries: unknown, file: string): TilePredictions[] {
  if (!Array.isArray(entries)) throw new Error(`${file}: COCO results must be a JSON array`);
  const byTile = new Map<string, TilePredictions>();
  entries.forEach((e: unknown, k) => {
    const entry = e as Partial<CocoResultEntry>;
    const where = `${file}: entry ${k}`;
    if (typeof entry.image_id !== 'string' && typeof entry.image_id !== 'number') throw new Error(`${where}: image_id missing`);
    if (typeof entry.score !== 'number' || !(entry.score >= 0 && entry.score <= 1)) throw new Error(`${where}: score must be a number in [0, 1]`);
    const seg = entry.segmentation;
    if (!seg || !Array.isArray(seg.size) || typeof seg.counts !== 'string') throw new Error(`${where}: segmentation must be compressed RLE {size, counts}`);
    if (typeof entry.category_id !== 'number') throw new Error(`${where}: category_id must be a number (COCO results use integer ids; ${CATEGORY_IDS.blood_vessel} is blood_vessel), got ${JSON.stringify(entry.category_id)}`);
    if (entry.category_id !== CATEGORY_IDS.blood_vessel) return;
    const [height, width] = seg.size;
    const id = String(entry.image_id);
    let rle: Rle;
    try {
      rle = rleFromString(seg.counts, height, width);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
    const tile = byTile.get(id) ?? { id, height, width, detections: [] };
    tile.detections.push({ score: entry.score, rle });
    byTile.set(id, tile);
  });
  return [...byTile.values()];
}

/**
 * GeoJSON FeatureCollection as QuPath imports it: one Feature per instance, a Polygon per
 * connected component (a MultiPolygon when there are several), traced through boundary pixel
 * centres (the convention of `polygons.jsonl`), closed rings; class and score in properties.
 */
export function toGeoJson(tile: TilePredictions, className: AnnotationType = 'blood_vessel'): object {
  const features = tile.detections.flatMap((d, k) => {
    const rings = maskToRings(decodeRle(d.rle), d.rle.width, d.rle.height);
    if (rings.length === 0) return [];
    const closed = rings.map((r) => [...r, r[0]!].map(([x, y]) => [x, y]));
    return [{
      type: 'Feature',
      id: `${tile.id}-${k}`,
      geometry: closed.length === 1
        ? { type: 'Polygon', coordinates: [closed[0]] }
        : { type: 'MultiPolygon', coordinates: closed.map((r) => [r]) },
      properties: {
        objectType: 'detection',
        classification: { name: className, color: [0, 200, 255] },
        name: `${className} ${k}`,
        score: d.score,
        tile_id: tile.id,
        measurements: { score: d.score },
      },
    }];
  });
  return { type: 'FeatureCollection', features };
}

/** Read our GeoJSON back into masks (fillPoly of each polygon). */
export function fromGeoJson(json: unknown, height: number, width: number): { score: number; rle: Rle; className: string }[] {
  const fc = json as { type?: string; features?: { geometry: { type: string; coordinates: unknown }; properties?: { score?: number; classification?: { name?: string } } }[] };
  if (fc.type !== 'FeatureCollection' || !Array.isArray(fc.features)) throw new Error('GeoJSON must be a FeatureCollection');
  return fc.features.map((f) => {
    const polygons = (f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates) as Point[][][];
    const mask = new Uint8Array(width * height);
    for (const polygon of polygons) {
      // Closed rings repeat the first point; fillPoly needs it once.
      rasterize(polygon.map((r) => r.slice(0, -1)), width, height).forEach((v, p) => { if (v) mask[p] = 1; });
    }
    return { score: f.properties?.score ?? 1, rle: encodeMask(mask, width, height), className: f.properties?.classification?.name ?? ANNOTATION_TYPES[0] };
  });
}

/**
 * Instance-label PNG: pixel value k = detection k (1-based, in the given order), 0 = background;
 * 16-bit greyscale. Where instances overlap the more confident one is drawn on top.
 */
export async function toLabelPng(tile: TilePredictions): Promise<Buffer> {
  if (tile.detections.length > 65535) throw new Error(`tile ${tile.id}: ${tile.detections.length} instances do not fit a 16-bit label image`);
  const labels = new Uint16Array(tile.width * tile.height);
  const order = tile.detections.map((d, k) => ({ d, k })).sort((a, b) => a.d.score - b.d.score);
  for (const { d, k } of order) {
    const mask = decodeRle(d.rle);
    for (let p = 0; p < mask.length; p++) if (mask[p]) labels[p] = k + 1;
  }
  return sharp(labels, { raw: { width: tile.width, height: tile.height, channels: 1 } }).toColourspace('grey16').png({ compressionLevel: 9 }).toBuffer();
}

/** Read an instance-label PNG back: one mask per label value 1..max. */
export async function fromLabelPng(png: Buffer): Promise<{ width: number; height: number; masks: Rle[] }> {
  const { data, info } = await sharp(png).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const labels = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
  let max = 0;
  for (const v of labels) if (v > max) max = v;
  const masks: Rle[] = [];
  for (let k = 1; k <= max; k++) {
    const mask = new Uint8Array(labels.length);
    for (let p = 0; p < labels.length; p++) if (labels[p] === k) mask[p] = 1;
    masks.push(encodeMask(mask, info.width, info.height));
  }
  return { width: info.width, height: info.height, masks };
}
