import { tf } from '../engine/backend.ts';
import type { RgbImage } from '../data/images.ts';
import { TILE_SIZE } from '../data/types.ts';
import { decodeRle, encodeMask, rleArea, type Rle } from '../eval/rle.ts';
import { modelInput, type TfModel } from '../model/tfjs.ts';
import { decodeDetections, detectionMasks } from './decode.ts';
import { nms, type Box } from './nms.ts';
import { postprocessMask, type PostProcess } from './postprocess.ts';

export interface PredictOptions {
  imgsz: number;
  conf: number;
  iou: number;
  maxDet: number;
  /** Horizontal and vertical flips merged into the pool before the ensemble step. */
  tta: 'none' | 'flip';
  post: PostProcess;
  dilate: number;
}

export const DEFAULT_PREDICT: PredictOptions = { imgsz: 640, conf: 0.001, iou: 0.55, maxDet: 300, tta: 'none', post: 'lcc', dilate: 0 };

/** One predicted vessel of a tile, at the tile's resolution. */
export interface Prediction {
  score: number;
  box: Box;
  rle: Rle;
  /** Which model (and flip) produced the kept instance. */
  source: string;
}

type Flip = 'none' | 'h' | 'v';

function flipImage(img: RgbImage, flip: Flip): Float32Array {
  const { width: w, height: h, data } = img;
  const out = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const sx = flip === 'h' ? w - 1 - x : x, sy = flip === 'v' ? h - 1 - y : y;
    const s = (sy * w + sx) * 3, d = (y * w + x) * 3;
    out[d] = data[s]! / 255; out[d + 1] = data[s + 1]! / 255; out[d + 2] = data[s + 2]! / 255;
  }
  return out;
}

function unflipMask(rle: Rle, flip: Flip): Rle {
  if (flip === 'none') return rle;
  const { width: w, height: h } = rle;
  const m = decodeRle(rle);
  const out = new Uint8Array(m.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (m[y * w + x]) out[(flip === 'v' ? h - 1 - y : y) * w + (flip === 'h' ? w - 1 - x : x)] = 1;
  }
  return encodeMask(out, w, h);
}

function unflipBox([x1, y1, x2, y2]: Box, flip: Flip, w: number, h: number): Box {
  if (flip === 'h') return [w - x2, y1, w - x1, y2];
  if (flip === 'v') return [x1, h - y2, x2, h - y1];
  return [x1, y1, x2, y2];
}

/**
 * Predict one tile with a fold ensemble, the seed's way: every model (and flip) predicts; the
 * detections are pooled and NMS'd together; each kept instance keeps the mask of the model
 * whose box survived; masks are post-processed (largest component, optional dilation).
 */
export function predictTile(models: readonly TfModel[], image: RgbImage, opts: PredictOptions): Prediction[] {
  if (image.width !== TILE_SIZE || image.height !== TILE_SIZE) throw new Error(`image is ${image.width}x${image.height}, expected ${TILE_SIZE}x${TILE_SIZE}`);
  const flips: Flip[] = opts.tta === 'flip' ? ['none', 'h', 'v'] : ['none'];
  const sx = TILE_SIZE / opts.imgsz;
  const pool: Prediction[] = [];
  models.forEach((model, m) => {
    for (const flip of flips) {
      const input = modelInput(flipImage(image, flip), 1, opts.imgsz);
      const out = model.predict(input);
      const dets = decodeDetections(out, model.config, { conf: opts.conf, iou: opts.iou, maxDet: opts.maxDet })[0]!.filter((d) => d.cls === 0);
      const proto = tf.squeeze(out.proto, [0]) as tf.Tensor3D;
      const masks = detectionMasks(dets, proto, opts.imgsz, TILE_SIZE, TILE_SIZE);
      tf.dispose([input, proto, ...out.heads, out.proto]);
      dets.forEach((d, k) => {
        const box = d.box.map((v) => v * sx) as Box;
        pool.push({ score: d.score, box: unflipBox(box, flip, TILE_SIZE, TILE_SIZE), rle: unflipMask(masks[k]!, flip), source: `model ${m}${flip === 'none' ? '' : ` flip ${flip}`}` });
      });
    }
  });
  const keep = pool.length > 0 && (models.length > 1 || flips.length > 1)
    ? nms(pool.map((p) => p.box), pool.map((p) => p.score), pool.map(() => 0), opts.iou, opts.maxDet)
    : pool.map((_, k) => k).sort((a, b) => pool[b]!.score - pool[a]!.score).slice(0, opts.maxDet);
  const out: Prediction[] = [];
  for (const k of keep) {
    const p = pool[k]!;
    const mask = postprocessMask(decodeRle(p.rle), TILE_SIZE, TILE_SIZE, opts.post, opts.dilate);
    const rle = encodeMask(mask, TILE_SIZE, TILE_SIZE);
    if (rleArea(rle) > 0) out.push({ ...p, rle });
  }
  return out;
}
