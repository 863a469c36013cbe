import { readTileImage, type Dataset } from '../data/dataset.ts';
import type { RgbImage } from '../data/images.ts';
import { fillPolygon, type Point, type Ring } from '../data/rasterize.ts';
import { TILE_SIZE, type Annotation, type AnnotationType } from '../data/types.ts';
import { Rng } from '../synth/random.ts';
import type { LossBatch } from './loss.ts';
import type { Target } from './targets.ts';

/** A labelled tile held in memory: its pixels and its polygons. */
export interface TrainTile {
  id: string;
  image: RgbImage;
  annotations: Annotation[];
}

export interface AugmentConfig {
  /** Probability of a horizontal flip. */
  fliplr: number;
  /** Probability of a vertical flip (histology has no up). */
  flipud: number;
  /** Probability of a random 90-degree rotation. */
  rot90: number;
  /** Brightness jitter (fraction) and saturation jitter (fraction). */
  hsvV: number;
  hsvS: number;
}

export const DEFAULT_AUGMENT: AugmentConfig = { fliplr: 0.5, flipud: 0.5, rot90: 0.5, hsvV: 0.2, hsvS: 0.3 };
export const NO_AUGMENT: AugmentConfig = { fliplr: 0, flipud: 0, rot90: 0, hsvV: 0, hsvS: 0 };

export async function loadTrainTiles(dataset: Dataset, ids: readonly string[]): Promise<TrainTile[]> {
  const tiles: TrainTile[] = [];
  for (const id of ids) tiles.push({ id, image: await readTileImage(dataset, id), annotations: dataset.labels.get(id) ?? [] });
  return tiles;
}


/** The dihedral transform of a tile: flips then k quarter turns clockwise. */
interface Geometry { flipX: boolean; flipY: boolean; turns: number }

function mapPoint([x, y]: Point, g: Geometry): Point {
  const m = TILE_SIZE - 1;
  let px = g.flipX ? m - x : x;
  let py = g.flipY ? m - y : y;
  for (let t = 0; t < g.turns; t++) [px, py] = [m - py, px];
  return [px, py];
}

function transformImage(img: RgbImage, g: Geometry, brightness: number, saturation: number): Float32Array {
  const S = TILE_SIZE;
  const out = new Float32Array(S * S * 3);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const [tx, ty] = mapPoint([x, y], g);
      const src = (y * S + x) * 3, dst = (ty * S + tx) * 3;
      const r = img.data[src]!, gg = img.data[src + 1]!, b = img.data[src + 2]!;
      const grey = (r + gg + b) / 3;
      out[dst] = Math.min(255, Math.max(0, (grey + (r - grey) * saturation) * brightness)) / 255;
      out[dst + 1] = Math.min(255, Math.max(0, (grey + (gg - grey) * saturation) * brightness)) / 255;
      out[dst + 2] = Math.min(255, Math.max(0, (grey + (b - grey) * saturation) * brightness)) / 255;
    }
  }
  return out;
}

export const CLASS_INDEX: Record<AnnotationType, number> = { blood_vessel: 0, glomerulus: 1, unsure: 2 };

/** A batch ready for the model: pixels (0..1, 512x512 tiles) plus the loss's targets and masks. */
export interface TrainBatch extends LossBatch {
  images: Float32Array; // [n, 512, 512, 3]
  count: number;
}

/**
 * Assemble a batch: each tile flipped/turned and colour-jittered at random, its polygons moved
 * the same way; boxes from the polygons (fillPoly's extent), masks rasterised at prototype
 * resolution (`protoSize` = model input / 4) from the scaled polygons, as YOLOv5 does.
 */
export function makeBatch(tiles: readonly TrainTile[], protoSize: number, augment: AugmentConfig, rng: Rng): TrainBatch {
  const S = TILE_SIZE;
  const images = new Float32Array(tiles.length * S * S * 3);
  const targets: Target[] = [];
  const masks: Float32Array[] = [];
  const scale = protoSize / S;
  tiles.forEach((tile, b) => {
    const g: Geometry = { flipX: rng.chance(augment.fliplr), flipY: rng.chance(augment.flipud), turns: rng.chance(augment.rot90) ? rng.int(1, 3) : 0 };
    const brightness = 1 + rng.uniform(-augment.hsvV, augment.hsvV);
    const saturation = 1 + rng.uniform(-augment.hsvS, augment.hsvS);
    images.set(transformImage(tile.image, g, brightness, saturation), b * S * S * 3);
    for (const a of tile.annotations) {
      const rings: Ring[] = a.coordinates.map((r) => r.map((p) => mapPoint(p, g)));
      let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
      for (const r of rings) for (const [x, y] of r) { x1 = Math.min(x1, x); y1 = Math.min(y1, y); x2 = Math.max(x2, x + 1); y2 = Math.max(y2, y + 1); }
      const mask = new Uint8Array(protoSize * protoSize);
      fillPolygon(mask, protoSize, protoSize, rings.map((r) => r.map(([x, y]) => [Math.round(x * scale), Math.round(y * scale)] as Point)), 1);
      targets.push({ image: b, cls: CLASS_INDEX[a.type], box: [(x1 + x2) / 2 / S, (y1 + y2) / 2 / S, (x2 - x1) / S, (y2 - y1) / S] });
      masks.push(Float32Array.from(mask));
    }
  });
  return { images, targets, masks, count: tiles.length };
}
