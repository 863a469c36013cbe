import { mulberry32 } from '../util/stats.ts';
import { decodeRle, encodeMask } from './rle.ts';
import type { GroundTruthTile } from './groundtruth.ts';
import type { Detection, TilePredictions } from './submission.ts';

export interface SimulateOptions {
  seed?: number;
  /** Share of vessels the simulated detector finds. */
  recall?: number;
  /** Largest shift, in pixels, of a found vessel's mask. */
  jitter?: number;
  /** Detections per tile in all (found vessels plus false positives), as a detector with a low threshold emits. */
  perTile?: number;
}

function shifted(mask: Uint8Array, width: number, height: number, dx: number, dy: number): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x - dx;
      if (sx >= 0 && sx < width && mask[sy * width + sx]) out[y * width + x] = 1;
    }
  }
  return out;
}

/**
 * Predictions of an imperfect detector, made from ground truth: found vessels with shifted
 * masks and high confidences, and low-confidence blobs elsewhere. For demos and benchmarks
 * of the scoring code only: it says nothing about a model.
 */
export function simulatePredictions(gt: Iterable<GroundTruthTile>, options: SimulateOptions = {}): TilePredictions[] {
  const random = mulberry32(options.seed ?? 1);
  const recall = options.recall ?? 0.8;
  const jitter = options.jitter ?? 2;
  const perTile = options.perTile ?? 10;
  const out: TilePredictions[] = [];
  for (const tile of gt) {
    const { width, height } = tile;
    const detections: Detection[] = [];
    for (const v of tile.vessels) {
      if (random() >= recall || detections.length >= perTile) continue;
      const dx = Math.round((random() * 2 - 1) * jitter);
      const dy = Math.round((random() * 2 - 1) * jitter);
      detections.push({ score: 0.3 + 0.7 * random(), rle: encodeMask(shifted(decodeRle(v.rle), width, height, dx, dy), width, height) });
    }
    while (detections.length < perTile) {
      const r = 3 + random() * 15;
      const cx = random() * width;
      const cy = random() * height;
      const mask = new Uint8Array(width * height);
      for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(height - 1, Math.ceil(cy + r)); y++) {
        for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(width - 1, Math.ceil(cx + r)); x++) {
          if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) mask[y * width + x] = 1;
        }
      }
      detections.push({ score: 0.6 * random(), rle: encodeMask(mask, width, height) });
    }
    out.push({ id: tile.id, height, width, detections });
  }
  return out;
}
