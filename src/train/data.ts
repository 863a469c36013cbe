import { readTileImage, type Dataset } from '../data/dataset.ts';
import type { RgbImage } from '../data/images.ts';
import type { Point, Ring } from '../data/rasterize.ts';
import { canvasMosaic, mosaic, protoMask, scaleTranslate, stainJitter, stitchCrop, visibleBox, type MaskTarget, type Neighbour, type Sample } from './augment.ts';
import { TILE_SIZE, type Annotation, type AnnotationType } from '../data/types.ts';
import { Rng } from '../util/random.ts';
import type { LossBatch } from './loss.ts';
import type { Target } from './targets.ts';

/** A labelled tile held in memory: its pixels and its polygons. */
export interface TrainTile {
  id: string;
  image: RgbImage;
  annotations: Annotation[];
  /** The 3x3 neighbourhood in the slide, for `--stitch` (`[dy + 1][dx + 1]`, the centre is this tile). */
  neighbours?: (Neighbour | null)[][];
}

export interface AugmentConfig {
  /** Probability of a stitched-context crop (tiles with neighbours only). */
  stitch: number;
  /** Probability of building the sample as a mosaic of four tiles. */
  mosaic: number;
  /** Random scale range: 1 +- scale. */
  scale: number;
  /** Random translation, as a fraction of the tile. */
  translate: number;
  /** Stain jitter: standard deviation of each stain's relative amount (colour deconvolution). */
  stain: number;
  /** Probability of a horizontal flip. */
  fliplr: number;
  /** Probability of a vertical flip (histology has no up). */
  flipud: number;
  /** Probability of a random 90-degree rotation. */
  rot90: number;
  /** Brightness jitter (fraction) and saturation jitter (fraction). */
  hsvV: number;
  hsvS: number;
  /**
   * How a mosaic is framed: `canvas`, the official YOLO mosaic (random centre on a 2x canvas,
   * scale and translation applied to the whole canvas); `crop`, a 512 px crop of the 2x2
   * canvas, then scaled about its own centre (grey borders when zoomed out). Absent: crop
   * (runs saved before the option).
   */
  mosaicView?: MosaicView;
}

export const MOSAIC_VIEWS = ['canvas', 'crop'] as const;
export type MosaicView = (typeof MOSAIC_VIEWS)[number];

/**
 * hyp.scratch-low's augmentation (the official YOLOv7-seg's): always a canvas mosaic, scale
 * 1 +- 0.5, shift 0.1, left-right flips, HSV-like saturation 0.7 and brightness 0.4 (no hue).
 * Vertical flips, quarter turns and stain jitter stay flags (on 25 tiles x 30 epochs their
 * effect was inside the noise of seeds: README, "Side by side with the official YOLOv7-seg").
 */
export const DEFAULT_AUGMENT: AugmentConfig = { stitch: 0, mosaic: 1, scale: 0.5, translate: 0.1, stain: 0, fliplr: 0.5, flipud: 0, rot90: 0, hsvV: 0.4, hsvS: 0.7, mosaicView: 'canvas' };
export const NO_AUGMENT: AugmentConfig = { stitch: 0, mosaic: 0, scale: 0, translate: 0, stain: 0, fliplr: 0, flipud: 0, rot90: 0, hsvV: 0, hsvS: 0 };

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

const isIdentity = (g: Geometry) => !g.flipX && !g.flipY && g.turns === 0;

/** A sample flipped and turned, its polygons (and ignore map) moved alike. */
function dihedral(smp: Sample, g: Geometry): Sample {
  return isIdentity(g) ? smp : turned(smp, g);
}

/** The pixels of `smp` (float or the tile's own bytes) flipped and turned into a new float sample. */
function turned(smp: { pixels: ArrayLike<number>; annotations: Sample['annotations']; ignore?: Uint8Array }, g: Geometry): Sample {
  const S = TILE_SIZE;
  const out = new Float32Array(S * S * 3);
  const ignore = smp.ignore ? new Uint8Array(S * S) : undefined;
  // Where (0, 0) and the unit steps in x and y land: the map is affine, so no per-pixel calls.
  const [ox, oy] = mapPoint([0, 0], g), [ax, ay] = mapPoint([1, 0], g), [bx, by] = mapPoint([0, 1], g);
  const dxx = ax - ox, dxy = ay - oy, dyx = bx - ox, dyy = by - oy;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const tx = ox + x * dxx + y * dyx, ty = oy + x * dxy + y * dyy;
      const src = (y * S + x) * 3, dst = (ty * S + tx) * 3;
      out[dst] = smp.pixels[src]!; out[dst + 1] = smp.pixels[src + 1]!; out[dst + 2] = smp.pixels[src + 2]!;
      if (ignore) ignore[ty * S + tx] = smp.ignore![y * S + x]!;
    }
  }
  return { pixels: out, annotations: smp.annotations.map((a) => ({ type: a.type, coordinates: a.coordinates.map((r: Ring) => r.map((p) => mapPoint(p, g))) })), ignore };
}

/** A tile as a float sample (0..255). */
function tileSample(tile: TrainTile): Sample {
  return { pixels: Float32Array.from(tile.image.data), annotations: tile.annotations };
}

/** A tile flipped and turned, read straight from its bytes (one pass, one copy). */
function orientedTile(tile: TrainTile, g: Geometry): Sample {
  return isIdentity(g) ? tileSample(tile) : turned({ pixels: tile.image.data, annotations: tile.annotations }, g);
}

function randomGeometry(augment: AugmentConfig, rng: Rng): Geometry {
  return { flipX: rng.chance(augment.fliplr), flipY: rng.chance(augment.flipud), turns: rng.chance(augment.rot90) ? rng.int(1, 3) : 0 };
}

/** Brightness and saturation jitter, then scaling to 0..1 into `dst`. */
function colourInto(px: Float32Array, dst: Float32Array, offset: number, brightness: number, saturation: number): void {
  for (let p = 0; p < px.length; p += 3) {
    const r = px[p]!, g = px[p + 1]!, b = px[p + 2]!;
    const grey = (r + g + b) / 3;
    dst[offset + p] = Math.min(255, Math.max(0, (grey + (r - grey) * saturation) * brightness)) / 255;
    dst[offset + p + 1] = Math.min(255, Math.max(0, (grey + (g - grey) * saturation) * brightness)) / 255;
    dst[offset + p + 2] = Math.min(255, Math.max(0, (grey + (b - grey) * saturation) * brightness)) / 255;
  }
}

export const CLASS_INDEX: Record<AnnotationType, number> = { blood_vessel: 0, glomerulus: 1, unsure: 2 };

/** A batch ready for the model: pixels (0..1, 512x512 tiles) plus the loss's targets and masks. */
export interface TrainBatch extends LossBatch {
  images: Float32Array; // [n, 512, 512, 3]
  count: number;
}

/**
 * Assemble a batch. Each sample: with probability `stitch` a crop of the tile and its slide
 * neighbours, else with probability `mosaic` four tiles (this one and three from `pool`) on a
 * 2x2 canvas cropped at random, else the tile alone; flipped/turned at random; then random
 * scale/translate, stain jitter and brightness/saturation jitter. Boxes come from the visible
 * part of each polygon (fillPoly's pixels, pieces under 10 px dropped); masks are each
 * prototype cell's coverage (`protoSize` = model input / 4), or the official 0/1 masks.
 */
export function makeBatch(tiles: readonly TrainTile[], protoSize: number, augment: AugmentConfig, rng: Rng, pool: readonly TrainTile[] = tiles, maskTarget: MaskTarget = 'coverage'): TrainBatch {
  const S = TILE_SIZE;
  const images = new Float32Array(tiles.length * S * S * 3);
  const targets: Target[] = [];
  const masks: Float32Array[] = [];
  const ignore: (Uint8Array | null)[] = [];
  tiles.forEach((tile, b) => {
    let smp: Sample;
    let framed = false; // the canvas mosaic applies scale and translation itself
    if (tile.neighbours && rng.chance(augment.stitch)) {
      smp = dihedral(stitchCrop(tile.neighbours, rng), randomGeometry(augment, rng));
    } else if (rng.chance(augment.mosaic)) {
      const four = [tile, ...[0, 1, 2].map(() => pool[rng.int(0, pool.length - 1)]!)].map((t) => orientedTile(t, randomGeometry(augment, rng)));
      framed = augment.mosaicView === 'canvas';
      smp = framed ? canvasMosaic(four, rng, augment.scale, augment.translate) : mosaic(four, rng);
    } else {
      smp = orientedTile(tile, randomGeometry(augment, rng));
    }
    if (!framed) smp = scaleTranslate(smp, rng, augment.scale, augment.translate);
    // After the geometry (the ignore map moves with the pixels), before the colour (which drops it).
    ignore.push(smp.ignore && smp.ignore.some((v) => v) ? smp.ignore : null);
    smp = stainJitter(smp, rng, augment.stain);
    colourInto(smp.pixels, images, b * S * S * 3, 1 + rng.uniform(-augment.hsvV, augment.hsvV), 1 + rng.uniform(-augment.hsvS, augment.hsvS));
    for (const a of smp.annotations) {
      const box = visibleBox(a);
      if (!box) continue;
      const [x1, y1, x2, y2] = box;
      targets.push({ image: b, cls: CLASS_INDEX[a.type], box: [(x1 + x2) / 2 / S, (y1 + y2) / 2 / S, (x2 - x1) / S, (y2 - y1) / S] });
      masks.push(protoMask(a, protoSize, maskTarget));
    }
  });
  return { images, targets, masks, ignore, count: tiles.length };
}
