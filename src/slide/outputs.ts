import sharp from 'sharp';
import { stringify } from 'csv-stringify/sync';
import { maskToRings } from '../data/contour.ts';
import type { RgbImage } from '../data/images.ts';
import { rasterize, type Point } from '../data/rasterize.ts';
import { encodeWindow, rleToString } from '../eval/rle.ts';
import { CATEGORY_IDS } from '../eval/export.ts';
import type { SlideInstance } from './merge.ts';

/** How analysis pixels map to the slide: `scale` level-0 pixels each, `mpp` microns each. */
export interface SlideGeometry {
  scale: number;
  mpp: number;
  /** Level-0 size. */
  width: number;
  height: number;
}

/** Per-vessel measurements, in level-0 pixels and microns. */
export interface VesselRow {
  id: number;
  centroid_x: number;
  centroid_y: number;
  area_px: number;
  area_um2: number;
  perimeter_um: number;
  equivalent_diameter_um: number;
  score: number;
}

/** Rings of an instance's mask, in its box (boundary pixel centres). */
export const localRings = (a: SlideInstance): Point[][] => maskToRings(a.mask, a.w, a.h);

/** Rings in level-0 pixel coordinates (scaled from the analysis resolution). */
export function levelZeroRings(a: SlideInstance, rings: Point[][], g: SlideGeometry): Point[][] {
  const to = (v: number, o: number) => g.scale === 1 ? v + o : Math.round(((v + o + 0.5) * g.scale - 0.5) * 100) / 100;
  return rings.map((r) => r.map(([x, y]) => [to(x, a.x), to(y, a.y)] as Point));
}

function ringLength(r: readonly Point[]): number {
  let n = 0;
  for (let k = 0; k < r.length; k++) {
    const [x0, y0] = r[k]!, [x1, y1] = r[(k + 1) % r.length]!;
    n += Math.hypot(x1 - x0, y1 - y0);
  }
  return n;
}

export function measure(a: SlideInstance, rings: Point[][], id: number, g: SlideGeometry): VesselRow {
  let area = 0, sx = 0, sy = 0;
  for (let y = 0; y < a.h; y++) for (let x = 0; x < a.w; x++) if (a.mask[y * a.w + x]) { area++; sx += x; sy += y; }
  const perimeter = rings.reduce((s, r) => s + ringLength(r), 0);
  const areaUm2 = area * g.mpp * g.mpp;
  const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
  return {
    id,
    centroid_x: round(((a.x + sx / area) + 0.5) * g.scale - 0.5),
    centroid_y: round(((a.y + sy / area) + 0.5) * g.scale - 0.5),
    area_px: round(area * g.scale * g.scale, 1),
    area_um2: round(areaUm2),
    perimeter_um: round(perimeter * g.mpp),
    equivalent_diameter_um: round(2 * Math.sqrt(areaUm2 / Math.PI)),
    score: round(a.score, 5),
  };
}

/** QuPath GeoJSON: a FeatureCollection of detections in level-0 pixels, with class, colour and measurements. */
export function slideGeoJson(instances: readonly SlideInstance[], rings: readonly Point[][][], rows: readonly VesselRow[], g: SlideGeometry, slideName: string): object {
  return {
    type: 'FeatureCollection',
    features: instances.flatMap((a, k) => {
      const closed = levelZeroRings(a, rings[k]!, g).map((r) => [...r, r[0]!]);
      if (closed.length === 0) return [];
      const m = rows[k]!;
      return [{
        type: 'Feature',
        id: `vessel-${m.id}`,
        geometry: closed.length === 1 ? { type: 'Polygon', coordinates: [closed[0]] } : { type: 'MultiPolygon', coordinates: closed.map((r) => [r]) },
        properties: {
          objectType: 'detection',
          name: `blood_vessel ${m.id}`,
          classification: { name: 'blood_vessel', color: [0, 200, 255] },
          measurements: { score: m.score, 'Area px': m.area_px, 'Area µm^2': m.area_um2, 'Perimeter µm': m.perimeter_um, 'Equivalent diameter µm': m.equivalent_diameter_um },
          slide: slideName,
        },
      }];
    }),
  };
}

/** An instance's mask at level-0 resolution in its level-0 box (the scaled rings filled, as fillPoly). */
function levelZeroMask(a: SlideInstance, rings: Point[][], g: SlideGeometry): { x: number; y: number; w: number; h: number; mask: Uint8Array } {
  if (g.scale === 1) return a;
  const x = Math.floor(a.x * g.scale), y = Math.floor(a.y * g.scale);
  const w = Math.min(g.width - x, Math.ceil((a.x + a.w) * g.scale) - x), h = Math.min(g.height - y, Math.ceil((a.y + a.h) * g.scale) - y);
  const shifted = levelZeroRings(a, rings, g).map((r) => r.map(([px, py]) => [px - x, py - y] as Point));
  return { x, y, w, h, mask: rasterize(shifted, w, h) };
}

/** COCO results JSON over the slide as one image (level-0 size), `image_id` the slide's name. */
export function slideCoco(instances: readonly SlideInstance[], rings: readonly Point[][][], g: SlideGeometry, slideName: string): object[] {
  return instances.map((a, k) => {
    const m = levelZeroMask(a, rings[k]!, g);
    const rle = encodeWindow(m.mask, m.x, m.y, m.w, m.h, g.width, g.height);
    return {
      image_id: slideName,
      category_id: CATEGORY_IDS.blood_vessel,
      bbox: [m.x, m.y, m.w, m.h],
      score: a.score,
      segmentation: { size: [g.height, g.width], counts: rleToString(rle.counts) },
    };
  });
}

export function vesselsCsv(rows: readonly VesselRow[]): string {
  return stringify(rows as unknown as Record<string, unknown>[], { header: true, columns: ['id', 'centroid_x', 'centroid_y', 'area_px', 'area_um2', 'perimeter_um', 'equivalent_diameter_um', 'score'] });
}

/**
 * The overview: the slide downsampled (`image`, `imageScale` analysis px per pixel), the tissue
 * outline in green (`tissue` at `tissueScale` analysis px per pixel), every vessel in magenta:
 * outlined when the overview is near full resolution, filled (at least a pixel) when smaller.
 */
export async function overviewPng(image: RgbImage, imageScale: number, tissue: { mask: Uint8Array; width: number; height: number; scale: number } | null, instances: readonly SlideInstance[]): Promise<Buffer> {
  const { width: w, height: h } = image;
  const px = Buffer.from(image.data);
  const paint = (p: number, r: number, g: number, b: number) => { px[p * 3] = r; px[p * 3 + 1] = g; px[p * 3 + 2] = b; };
  if (tissue) {
    const at = (x: number, y: number) => {
      const tx = Math.floor((x * imageScale) / tissue.scale), ty = Math.floor((y * imageScale) / tissue.scale);
      return tx >= 0 && ty >= 0 && tx < tissue.width && ty < tissue.height ? tissue.mask[ty * tissue.width + tx]! : 0;
    };
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if (at(x, y) && (!at(x - 1, y) || !at(x + 1, y) || !at(x, y - 1) || !at(x, y + 1))) paint(y * w + x, 0, 170, 0);
    }
  }
  const outline = imageScale <= 2;
  for (const a of instances) {
    const on = (x: number, y: number) => x >= 0 && y >= 0 && x < a.w && y < a.h && a.mask[y * a.w + x] === 1;
    for (let y = 0; y < a.h; y++) for (let x = 0; x < a.w; x++) {
      if (!on(x, y) || (outline && on(x - 1, y) && on(x + 1, y) && on(x, y - 1) && on(x, y + 1))) continue;
      const tx = Math.min(w - 1, Math.floor((a.x + x) / imageScale)), ty = Math.min(h - 1, Math.floor((a.y + y) / imageScale));
      paint(ty * w + tx, 230, 0, 160);
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}
