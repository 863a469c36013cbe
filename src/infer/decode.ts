import { outputsPerAnchor, type ModelConfig } from '../model/yolov7seg.ts';
import { encodeWindow, type Rle } from '../eval/rle.ts';
import { nmsOf, type Box } from './nms.ts';
import type { Array4, RawOutputs } from './runtime.ts';
import { sigmoid } from '../util/logits.ts';
import { resizeAxis } from './preprocess.ts';

export interface DecodeOptions {
  /** Minimum score (objectness x class probability); the seed predicts with 0.001. */
  conf?: number;
  /** NMS IoU threshold; the seed uses 0.55. */
  iou?: number;
  maxDet?: number;
  /** Only these class indices (default: all). Prediction wants blood_vessel alone, which saves NMS work. */
  classes?: readonly number[];
}

/** One detection of one image, in the model's input pixels. */
export interface RawDetection {
  box: Box;
  score: number;
  cls: number;
  /** Mask coefficients. */
  coefs: Float32Array;
}


/**
 * Decode the head outputs of one batch into detections per image (YOLOv5-seg's rules):
 * xy = (2 sigmoid - 0.5 + cell) * stride, wh = (2 sigmoid)^2 * anchor, score = objectness x
 * class probability for each class above `conf`, then class-aware NMS. Works on plain arrays,
 * so every runtime shares it; class sigmoids are taken only where objectness passes, boxes only
 * for the candidates NMS reaches.
 */
export function decodeDetections(out: RawOutputs, config: ModelConfig, options: DecodeOptions = {}): RawDetection[][] {
  const conf = options.conf ?? 0.001;
  const no = outputsPerAnchor(config);
  const nc = config.classes.length;
  const na = config.anchors[0]!.length;
  const n = out.proto.shape[0];
  const inputH = out.proto.shape[1] * 4;
  const classes = options.classes ?? Array.from({ length: nc }, (_, c) => c);
  // Candidates as flat lists of what passing `conf` needs (score, class, where in which head);
  // boxes are decoded only for the candidates NMS reaches, coefficients only for those it keeps.
  const cands = Array.from({ length: n }, () => ({ scores: [] as number[], cls: [] as number[], level: [] as number[], cell: [] as number[] }));
  const geometry = out.heads.map((head, level) => {
    const [, gh, gw, channels] = head.shape;
    if (channels !== na * no) throw new Error(`head ${level} has ${channels} channels, the model config needs ${na * no}`);
    return { gh, gw, stride: inputH / gh };
  });
  out.heads.forEach((head, level) => {
    const { gh, gw } = geometry[level]!;
    const data = head.data;
    for (let b = 0; b < n; b++) {
      const c = cands[b]!;
      for (let cell = 0; cell < gh * gw * na; cell++) {
        const o = (b * gh * gw * na + cell) * no;
        const obj = sigmoid(data[o + 4]!);
        if (obj < conf) continue;
        for (const k of classes) {
          const score = obj * sigmoid(data[o + 5 + k]!);
          if (score < conf) continue;
          c.scores.push(score); c.cls.push(k); c.level.push(level); c.cell.push(cell);
        }
      }
    }
  });
  const inputW = out.proto.shape[2] * 4;
  return cands.map((c, b) => {
    const offset = (k: number) => {
      const { gh, gw } = geometry[c.level[k]!]!;
      return (b * gh * gw * na + c.cell[k]!) * no;
    };
    // YOLOv5's box: xy = (2 sigmoid - 0.5 + cell) stride, wh = (2 sigmoid)^2 anchor.
    const boxAt = (k: number): Box => {
      const level = c.level[k]!, { gw, stride } = geometry[level]!, data = out.heads[level]!.data;
      const o = offset(k), cell = c.cell[k]!;
      const a = cell % na, gx = Math.floor(cell / na) % gw, gy = Math.floor(cell / na / gw);
      const [aw, ah] = config.anchors[level]![a]!;
      const cx = (sigmoid(data[o]!) * 2 - 0.5 + gx) * stride, cy = (sigmoid(data[o + 1]!) * 2 - 0.5 + gy) * stride;
      const w = (sigmoid(data[o + 2]!) * 2) ** 2 * aw, h = (sigmoid(data[o + 3]!) * 2) ** 2 * ah;
      return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
    };
    // NMS asks for each candidate's box once; the kept ones (at most maxDet) are decoded again.
    const kept = nmsOf(boxAt, [0, 0, inputW, inputH], c.scores, c.cls, options.iou ?? 0.55, options.maxDet ?? 300);
    return kept.map((k) => ({
      box: boxAt(k),
      score: c.scores[k]!,
      cls: c.cls[k]!,
      coefs: out.heads[c.level[k]!]!.data.slice(offset(k) + 5 + nc, offset(k) + no),
    }));
  });
}

/**
 * A mask's probabilities inside a window of the output image: `prob[(y - y0) * w + (x - x0)]`;
 * every pixel outside the window is 0. Soft masks let ensembles average before thresholding.
 */
export interface SoftMask {
  x0: number;
  y0: number;
  w: number;
  h: number;
  prob: Float32Array;
}

/** `resizeAxis` for output pixels start .. start + count - 1 of an axis of `size` source cells, as typed arrays. */
function sampleAxis(start: number, count: number, r: number, size: number): { lo: Int32Array; hi: Int32Array; frac: Float64Array } {
  const lo = new Int32Array(count), hi = new Int32Array(count), frac = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const a = resizeAxis(start + k, r, size);
    lo[k] = a.lo; hi[k] = a.hi; frac[k] = a.frac;
  }
  return { lo, hi, frac };
}

/**
 * Mask probabilities of one image's detections at the output size: sigmoid(coefficients x
 * prototypes) upsampled bilinearly (half-pixel centres, as PyTorch's align_corners=False and
 * tfjs' resizeBilinear) and cropped to the box the way YOLOv5's crop_mask does (pixel x counts
 * when x1 <= x < x2). Only the prototype cells under the box are computed, so a small vessel
 * costs a few hundred dot products, not the whole prototype plane. `batchIndex` picks the
 * image of a batched prototype array; boxes are rescaled from the model input (`inputSize`).
 */
export function softMasks(dets: readonly RawDetection[], proto: Array4, batchIndex: number, inputSize: number, outH: number, outW: number): SoftMask[] {
  return dets.map((d) => softMask(d, proto, batchIndex, inputSize, outH, outW));
}

/** A rectangle of the output image, [x0, x1) x [y0, y1). */
export interface Window { x0: number; y0: number; x1: number; y1: number }

/**
 * One detection's soft mask (see `softMasks`); with `clip`, only the part of its window inside
 * that rectangle is computed (the values there are the same): what a caller keeps anyway.
 */
export function softMask(d: RawDetection, proto: Array4, batchIndex: number, inputSize: number, outH: number, outW: number, clip?: Window): SoftMask {
  const [, ph, pw, nm] = proto.shape;
  const base = batchIndex * ph * pw * nm;
  const sx = outW / inputSize, sy = outH / inputSize;
  const ry = ph / outH, rx = pw / outW;
  const data = proto.data;
  if (d.coefs.length !== nm) throw new Error(`detection has ${d.coefs.length} mask coefficients, prototypes have ${nm}`);
  const { x0: cx0, y0: cy0, x1: cx1, y1: cy1 } = clip ?? { x0: 0, y0: 0, x1: outW, y1: outH };
  const xs = Math.max(0, cx0, Math.ceil(d.box[0] * sx)), xe = Math.min(outW, cx1, Math.ceil(d.box[2] * sx));
  const ys = Math.max(0, cy0, Math.ceil(d.box[1] * sy)), ye = Math.min(outH, cy1, Math.ceil(d.box[3] * sy));
  const w = Math.max(0, xe - xs), h = Math.max(0, ye - ys);
  const prob = new Float32Array(w * h);
  // A box outside the image has an empty window (anchored inside the image, so it stays valid).
  if (w === 0 || h === 0) return { x0: 0, y0: 0, w: 0, h: 0, prob };
  const rows = sampleAxis(ys, h, ry, ph), cols = sampleAxis(xs, w, rx, pw);
  const py0 = rows.lo[0]!, py1 = rows.hi[h - 1]!, px0 = cols.lo[0]!, px1 = cols.hi[w - 1]!;
  const coefs = d.coefs;
  // Each prototype row under the box: the dot products (summed in channel order) and their
  // sigmoids, then interpolated at the window's columns. The vertical pass then mixes two
  // such rows per output row: the same arithmetic as interpolating each output pixel from
  // its four cells, with the horizontal half done once per prototype row instead of twice
  // per output row (a 640 px output has four output rows per prototype row).
  const cell = new Float64Array(px1 - px0 + 1);
  const across = new Float64Array((py1 - py0 + 1) * w);
  for (let py = py0; py <= py1; py++) {
    for (let px = px0; px <= px1; px++) {
      const o = base + (py * pw + px) * nm;
      let s = 0;
      for (let c = 0; c < nm; c++) s += coefs[c]! * data[o + c]!;
      cell[px - px0] = Math.fround(sigmoid(s));
    }
    const row = (py - py0) * w;
    for (let x = 0; x < w; x++) {
      const l = cell[cols.lo[x]! - px0]!, r = cell[cols.hi[x]! - px0]!;
      across[row + x] = l + (r - l) * cols.frac[x]!;
    }
  }
  for (let y = 0; y < h; y++) {
    const top = (rows.lo[y]! - py0) * w, bottom = (rows.hi[y]! - py0) * w, f = rows.frac[y]!;
    const out = y * w;
    for (let x = 0; x < w; x++) {
      const t = across[top + x]!;
      prob[out + x] = t + (across[bottom + x]! - t) * f;
    }
  }
  return { x0: xs, y0: ys, w, h, prob };
}

/** A soft mask thresholded at 0.5, in its own window (row-major, `m.w` x `m.h`). */
export function windowBits(m: SoftMask): Uint8Array {
  const bits = new Uint8Array(m.w * m.h);
  for (let k = 0; k < bits.length; k++) bits[k] = m.prob[k]! > 0.5 ? 1 : 0;
  return bits;
}

/** Binary masks (as RLE) of one image's detections: soft masks thresholded at 0.5, encoded from their windows. */
export function detectionMasks(dets: readonly RawDetection[], proto: Array4, batchIndex: number, inputSize: number, outH: number, outW: number): Rle[] {
  return softMasks(dets, proto, batchIndex, inputSize, outH, outW).map((m) => encodeWindow(windowBits(m), m.x0, m.y0, m.w, m.h, outW, outH));
}
