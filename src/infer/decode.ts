import { tf } from '../engine/backend.ts';
import type { ModelOutputs } from '../model/tfjs.ts';
import { outputsPerAnchor, type ModelConfig } from '../model/yolov7seg.ts';
import { encodeMask, type Rle } from '../eval/rle.ts';
import { nms, type Box } from './nms.ts';

export interface DecodeOptions {
  /** Minimum score (objectness x class probability); the seed predicts with 0.001. */
  conf?: number;
  /** NMS IoU threshold; the seed uses 0.55. */
  iou?: number;
  maxDet?: number;
  /** Candidates kept before NMS (highest scores). */
  maxCandidates?: number;
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
 * class probability for each class above `conf`, then class-aware NMS.
 */
export function decodeDetections(out: ModelOutputs, config: ModelConfig, options: DecodeOptions = {}): RawDetection[][] {
  const conf = options.conf ?? 0.001;
  const no = outputsPerAnchor(config);
  const nc = config.classes.length;
  const na = config.anchors[0]!.length;
  const n = out.proto.shape[0];
  const inputH = out.proto.shape[1] * 4;
  const perImage: RawDetection[][] = Array.from({ length: n }, () => []);
  const candidates: { box: Box; score: number; cls: number; coefs: Float32Array }[][] = Array.from({ length: n }, () => []);
  out.heads.forEach((head, level) => {
    const [, gh, gw] = head.shape;
    const stride = inputH / gh;
    const data = tf.tidy(() => {
      const p = tf.reshape(head, [n, gh, gw, na, no]);
      // Sigmoid on box, objectness and classes; mask coefficients stay raw.
      return tf.concat([tf.sigmoid(tf.slice(p, [0, 0, 0, 0, 0], [-1, -1, -1, -1, 5 + nc])), tf.slice(p, [0, 0, 0, 0, 5 + nc], [-1, -1, -1, -1, -1])], 4);
    }).dataSync();
    for (let b = 0; b < n; b++) for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) for (let a = 0; a < na; a++) {
      const o = ((((b * gh + gy) * gw + gx) * na) + a) * no;
      const obj = data[o + 4]!;
      if (obj < conf) continue;
      const [aw, ah] = config.anchors[level]![a]!;
      const cx = (data[o]! * 2 - 0.5 + gx) * stride, cy = (data[o + 1]! * 2 - 0.5 + gy) * stride;
      const w = (data[o + 2]! * 2) ** 2 * aw, h = (data[o + 3]! * 2) ** 2 * ah;
      for (let c = 0; c < nc; c++) {
        const score = obj * data[o + 5 + c]!;
        if (score < conf) continue;
        candidates[b]!.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, cls: c, coefs: Float32Array.from(data.subarray(o + 5 + nc, o + no)) });
      }
    }
  });
  for (let b = 0; b < n; b++) {
    let list = candidates[b]!;
    if (list.length > (options.maxCandidates ?? 30000)) list = list.sort((x, y) => y.score - x.score).slice(0, options.maxCandidates ?? 30000);
    const kept = nms(list.map((d) => d.box), list.map((d) => d.score), list.map((d) => d.cls), options.iou ?? 0.55, options.maxDet ?? 300);
    perImage[b] = kept.map((k) => list[k]!);
  }
  return perImage;
}

/**
 * Masks of one image's detections at the output size: sigmoid(coefficients x prototypes),
 * upsampled bilinearly (half-pixel centres, as PyTorch's align_corners=False) before
 * thresholding at 0.5, so small vessels keep smooth edges; then cropped to the box.
 * Boxes are rescaled from the model input (`inputSize`) to the output size.
 */
export function detectionMasks(dets: readonly RawDetection[], proto: tf.Tensor3D, inputSize: number, outH: number, outW: number, chunk = 16): Rle[] {
  const [ph, pw, nm] = proto.shape;
  const protoFlat = tf.reshape(tf.transpose(proto, [2, 0, 1]), [nm, ph * pw]);
  const sx = outW / inputSize, sy = outH / inputSize;
  const out: Rle[] = [];
  for (let start = 0; start < dets.length; start += chunk) {
    const part = dets.slice(start, start + chunk);
    const probs = tf.tidy(() => {
      const coefs = tf.tensor2d(Float32Array.from(part.flatMap((d) => Array.from(d.coefs))), [part.length, nm]);
      const m = tf.reshape(tf.sigmoid(tf.matMul(coefs, protoFlat)), [part.length, ph, pw, 1]) as tf.Tensor4D;
      return tf.image.resizeBilinear(m, [outH, outW], false, true);
    });
    const data = probs.dataSync();
    probs.dispose();
    part.forEach((d, k) => {
      const mask = new Uint8Array(outW * outH);
      const x1 = d.box[0] * sx, y1 = d.box[1] * sy, x2 = d.box[2] * sx, y2 = d.box[3] * sy;
      const base = k * outW * outH;
      // Crop as YOLOv5's crop_mask: pixel index i counts when x1 <= i < x2 (and likewise for rows).
      for (let y = Math.max(0, Math.ceil(y1)); y < Math.min(outH, Math.ceil(y2)); y++) {
        for (let x = Math.max(0, Math.ceil(x1)); x < Math.min(outW, Math.ceil(x2)); x++) {
          if (data[base + y * outW + x]! > 0.5) mask[y * outW + x] = 1;
        }
      }
      out.push(encodeMask(mask, outW, outH));
    });
  }
  protoFlat.dispose();
  return out;
}
