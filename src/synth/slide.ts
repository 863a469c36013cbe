import { rename } from 'node:fs/promises';
import sharp from 'sharp';
import { maskToRings } from '../data/contour.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { AppearanceConfig } from './config.ts';
import { renderTile, type TruthInstance } from './render.ts';
import { wsiStain } from './stain.ts';
import { CELL, WsiWorld } from './world.ts';

export interface SlideRenderOptions {
  seed: number;
  /** Side of the square slide in pixels. */
  size: number;
  /** Which WSI world (its objects and stain). */
  wsi: number;
  appearance: AppearanceConfig;
  /** Microns per pixel written into the TIFF (the synthetic tiles' resolution). */
  mpp: number;
}

/** A true object of the slide, whole: its pixels in a box of level-0 coordinates. */
export interface SlideTruth {
  type: TruthInstance['type'];
  x: number;
  y: number;
  w: number;
  h: number;
  mask: Uint8Array;
}

/**
 * Join the pieces of each object (per-tile truth, keyed by the object's identity in the world)
 * into whole objects in slide coordinates. Pieces outside [0, size) are cut off.
 */
export function joinPieces(pieces: { key: string; type: TruthInstance['type']; x: number; y: number; w: number; h: number; data: Uint8Array }[], size: number): SlideTruth[] {
  const groups = new Map<string, typeof pieces>();
  for (const p of pieces) {
    const g = groups.get(p.key);
    if (g) g.push(p);
    else groups.set(p.key, [p]);
  }
  const out: SlideTruth[] = [];
  for (const group of groups.values()) {
    const x0 = Math.max(0, Math.min(...group.map((p) => p.x))), y0 = Math.max(0, Math.min(...group.map((p) => p.y)));
    const x1 = Math.min(size, Math.max(...group.map((p) => p.x + p.w))), y1 = Math.min(size, Math.max(...group.map((p) => p.y + p.h)));
    if (x1 <= x0 || y1 <= y0) continue;
    const w = x1 - x0, h = y1 - y0;
    const mask = new Uint8Array(w * h);
    let any = false;
    for (const p of group) {
      for (let y = 0; y < p.h; y++) {
        const sy = p.y + y - y0;
        if (sy < 0 || sy >= h) continue;
        for (let x = 0; x < p.w; x++) {
          const sx = p.x + x - x0;
          if (sx >= 0 && sx < w && p.data[y * p.w + x]) { mask[sy * w + sx] = 1; any = true; }
        }
      }
    }
    if (any) out.push({ type: group[0]!.type, x: x0, y: y0, w, h, mask });
  }
  // A stable order: by position.
  return out.sort((a, b) => a.y - b.y || a.x - b.x);
}

/** The true objects as a QuPath GeoJSON FeatureCollection (annotations, level-0 pixel coordinates). */
export function truthGeoJson(truth: readonly SlideTruth[]): object {
  const colours: Record<string, [number, number, number]> = { blood_vessel: [255, 60, 60], unsure: [255, 200, 0], glomerulus: [60, 200, 60] };
  return {
    type: 'FeatureCollection',
    features: truth.flatMap((t, k) => {
      const rings = maskToRings(t.mask, t.w, t.h).map((r) => [...r, r[0]!].map(([x, y]) => [x + t.x, y + t.y]));
      if (rings.length === 0) return [];
      return [{
        type: 'Feature',
        id: `truth-${k}`,
        geometry: rings.length === 1 ? { type: 'Polygon', coordinates: [rings[0]] } : { type: 'MultiPolygon', coordinates: rings.map((r) => [r]) },
        properties: { objectType: 'annotation', classification: { name: t.type, color: colours[t.type] }, name: `${t.type} ${k}` },
      }];
    }),
  };
}

/**
 * Render one whole synthetic WSI: every 512 px cell of a rectangle of the generator's slide
 * world (the same world `synth` cuts its tiles from, so it is seamless), written as a tiled
 * pyramidal TIFF with its resolution set, and its true objects joined across cell borders.
 * The slide is built in memory (size^2 x 3 bytes: 768 MB at 16,384 px).
 */
export async function renderSlide(opts: SlideRenderOptions, out: string, truthOut: string, onCell?: (done: number, total: number) => void): Promise<{ truth: SlideTruth[] }> {
  const { size } = opts;
  if (!Number.isInteger(size) || size < 64 || size > 65_536) throw new Error(`--size must be a whole number of pixels in 64..65536, got ${size}`);
  const world = new WsiWorld(opts.seed, opts.wsi, opts.appearance);
  const stain = wsiStain(opts.seed, opts.wsi, opts.appearance.stainShift);
  const cells = Math.ceil(size / CELL);
  const image = Buffer.alloc(size * size * 3);
  const pieces: Parameters<typeof joinPieces>[0] = [];
  for (let cy = 0; cy < cells; cy++) {
    for (let cx = 0; cx < cells; cx++) {
      const x0 = cx * CELL, y0 = cy * CELL;
      const tile = renderTile(world, stain, opts.appearance, x0, y0);
      const w = Math.min(CELL, size - x0), h = Math.min(CELL, size - y0);
      for (let y = 0; y < h; y++) image.set(tile.image.data.subarray(y * CELL * 3, (y * CELL + w) * 3), ((y0 + y) * size + x0) * 3);
      for (const t of tile.truth) pieces.push({ key: t.key, type: t.type, x: x0 + t.mask.x0, y: y0 + t.mask.y0, w: t.mask.w, h: t.mask.h, data: t.mask.data });
      onCell?.(cy * cells + cx + 1, cells * cells);
    }
  }
  const truth = joinPieces(pieces, size);
  const temp = `${out}.partial.tif`;
  // xres is pixels per millimetre: 1000 / mpp.
  await sharp(image, { raw: { width: size, height: size, channels: 3 }, limitInputPixels: false })
    .tiff({ tile: true, tileWidth: 512, tileHeight: 512, pyramid: true, compression: 'deflate', xres: 1000 / opts.mpp, yres: 1000 / opts.mpp, resolutionUnit: 'cm' })
    .toFile(temp);
  await rename(temp, out);
  await writeFileAtomic(truthOut, JSON.stringify(truthGeoJson(truth)));
  return { truth };
}
