import { tf } from '../engine/backend.ts';
import type { ModelOutputs } from '../model/tfjs.ts';
import { outputsPerAnchor, type ModelConfig } from '../model/yolov7seg.ts';
import { assignLevel, type Target } from './targets.ts';
import { bceOfLogit, sigmoid } from '../util/logits.ts';

/**
 * The YOLOv5/7-seg loss: CIoU box loss, objectness BCE against the predicted box's IoU
 * (per-level balance 4 / 1 / 0.4), class BCE, and the mask loss: per-pixel BCE of
 * (coefficients x prototypes) against the instance mask at prototype resolution, cropped to
 * the target box and normalised by its area.
 */
export interface LossHyp {
  box: number;
  obj: number;
  cls: number;
  anchorT: number;
  balance: number[];
}

/** Loss gains before scaling, as a YOLO hyp file gives them (box, obj, cls). */
export interface LossGains { box: number; obj: number; cls: number }

/** hyp.scratch-high's gains (YOLOv7's); the official YOLOv7-seg's hyp.scratch-low has obj 1.0, cls 0.5. */
export const SCRATCH_HIGH_GAINS: LossGains = { box: 0.05, obj: 0.7, cls: 0.3 };

/** Gains scaled for 3 levels, `nc` classes and the image size, as the YOLO trainers do. */
export function defaultHyp(nc: number, imgsz: number, gains: LossGains = SCRATCH_HIGH_GAINS): LossHyp {
  return { box: gains.box, cls: (gains.cls * nc) / 80, obj: gains.obj * (imgsz / 640) ** 2, anchorT: 4.0, balance: [4.0, 1.0, 0.4] };
}

const EPS = 1e-7;

/** Elementwise binary cross-entropy on logits, the numerically stable form. */
export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  return tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
}

/**
 * Complete IoU of boxes given as (cx, cy, w, h) rows [n, 4] (YOLOv5's bbox_iou with CIoU).
 * The trade-off weight alpha is a constant (computed outside the gradient, as YOLOv5 does).
 */
export function ciou(pred: tf.Tensor2D, target: tf.Tensor2D): tf.Tensor1D {
  const [px, py, pw0, ph0] = tf.split(pred, 4, 1);
  const [tx, ty, tw0, th0] = tf.split(target, 4, 1);
  // eps on the heights only, as YOLOv5 (it keeps the aspect-ratio term finite).
  const pw = pw0!, ph = tf.add(ph0!, EPS), tw = tw0!, th = tf.add(th0!, EPS);
  const p1x = tf.sub(px!, tf.div(pw, 2)), p2x = tf.add(px!, tf.div(pw, 2));
  const p1y = tf.sub(py!, tf.div(ph, 2)), p2y = tf.add(py!, tf.div(ph, 2));
  const t1x = tf.sub(tx!, tf.div(tw, 2)), t2x = tf.add(tx!, tf.div(tw, 2));
  const t1y = tf.sub(ty!, tf.div(th, 2)), t2y = tf.add(ty!, tf.div(th, 2));
  const iw = tf.relu(tf.sub(tf.minimum(p2x, t2x), tf.maximum(p1x, t1x)));
  const ih = tf.relu(tf.sub(tf.minimum(p2y, t2y), tf.maximum(p1y, t1y)));
  const inter = tf.mul(iw, ih);
  const union = tf.add(tf.sub(tf.add(tf.mul(pw, ph), tf.mul(tw, th)), inter), EPS);
  const iou = tf.div(inter, union);
  const cw = tf.sub(tf.maximum(p2x, t2x), tf.minimum(p1x, t1x));
  const chh = tf.sub(tf.maximum(p2y, t2y), tf.minimum(p1y, t1y));
  const c2 = tf.add(tf.add(tf.square(cw), tf.square(chh)), EPS);
  const rho2 = tf.div(tf.add(tf.square(tf.sub(tf.add(t1x, t2x), tf.add(p1x, p2x))), tf.square(tf.sub(tf.add(t1y, t2y), tf.add(p1y, p2y)))), 4);
  const v = tf.mul(4 / Math.PI ** 2, tf.square(tf.sub(tf.atan(tf.div(tw, th)), tf.atan(tf.div(pw, ph)))));
  const alpha = tf.tensor(tf.tidy(() => tf.div(v, tf.add(tf.sub(v, iou), 1 + EPS))).dataSync(), v.shape);
  return tf.reshape(tf.sub(iou, tf.add(tf.div(rho2, c2), tf.mul(v, alpha))), [-1]) as tf.Tensor1D;
}

/** What the loss needs of a batch: targets and, per target, its mask at prototype resolution. */
export interface LossBatch {
  targets: Target[];
  /** One mask per target, [protoH * protoW] row-major: the fraction of each prototype cell the instance covers. */
  masks: Float32Array[];
  /** Per image, 1 where nobody labelled the pixels (stitched context): objectness is not scored there. */
  ignore?: (Uint8Array | null)[];
}

export interface LossParts {
  total: tf.Scalar;
  box: tf.Scalar;
  obj: tf.Scalar;
  cls: tf.Scalar;
  seg: tf.Scalar;
}

/**
 * One assigned prediction's mask loss, added into the gradients: BCE of (coefficients x
 * prototypes) against the target mask, summed over the prototype pixels inside the box (the
 * only ones with a loss or a gradient, so the only ones visited: dense [targets x pixels] GEMMs
 * cost 30x more, issue 8), times `scale`. Prototypes are [mh, mw, nm] from `protoAt`,
 * coefficients nm values from `coefAt`. Returns the loss.
 */
function maskRowLoss(coefs: Float32Array, coefAt: number, proto: Float32Array, protoAt: number, shape: [number, number, number],
  target: Float32Array, [cx, cy, w, h]: [number, number, number, number], scale: number, dcoefs: Float32Array, dproto: Float32Array): number {
  const [mh, mw, nm] = shape;
  // Pixel (col, row) counts when x1 <= col < x2 and y1 <= row < y2 (box in prototype pixels).
  // The bounds in float32 in the official order (xywh x mask size, then xyxy): an edge that
  // lands on a pixel boundary (1 in 16 at 640 px) falls on the same side as there.
  const f = Math.fround;
  const sx = f(f(cx) * mw), sy = f(f(cy) * mh), hw = f(f(f(w) * mw) / 2), hh = f(f(f(h) * mh) / 2);
  const x1 = f(sx - hw), x2 = f(sx + hw), y1 = f(sy - hh), y2 = f(sy + hh);
  const c0 = Math.max(0, Math.ceil(x1)), c1 = Math.min(mw, Math.ceil(x2)), r0 = Math.max(0, Math.ceil(y1)), r1 = Math.min(mh, Math.ceil(y2));
  const c = coefs.slice(coefAt, coefAt + nm), dc = new Float64Array(nm);
  let total = 0;
  for (let r = r0; r < r1; r++) for (let col = c0; col < c1; col++) {
    const q = r * mw + col, po = protoAt + q * nm;
    let z = 0;
    for (let m = 0; m < nm; m++) z += c[m]! * proto[po + m]!;
    const t = target[q]!;
    total += bceOfLogit(z, t) * scale;
    const g = (sigmoid(z) - t) * scale;
    for (let m = 0; m < nm; m++) {
      dc[m] += g * proto[po + m]!;
      dproto[po + m] += g * c[m]!;
    }
  }
  for (let m = 0; m < nm; m++) dcoefs[coefAt + m] += dc[m]!;
  return total;
}

/** Mean over all prototype pixels, then / the normalised box area (YOLOv5-seg's crop_mask loss). */
const maskScale = (mh: number, mw: number, [, , w, h]: [number, number, number, number]) => 1 / (mh * mw * w * h);

/**
 * The mask loss of one image's assigned predictions: mean over targets of BCE summed inside the
 * box / box area (YOLOv5-seg's crop_mask loss), as one custom-gradient op (the loss itself
 * computes all images and levels at once in `denseLoss`; this is the same arithmetic on its own).
 */
export function maskLoss(coefs: tf.Tensor2D, proto: tf.Tensor3D, gt: Float32Array[], boxes: [number, number, number, number][]): tf.Scalar {
  const [mh, mw, nm] = proto.shape;
  const n = gt.length;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [c, p] = args as tf.Tensor[];
    const cd = c!.dataSync() as Float32Array, pd = p!.dataSync() as Float32Array;
    const dc = new Float32Array(n * nm), dp = new Float32Array(mh * mw * nm);
    let total = 0;
    boxes.forEach((box, k) => { total += maskRowLoss(cd, k * nm, pd, 0, [mh, mw, nm], gt[k]!, box, maskScale(mh, mw, box) / n, dc, dp); });
    return {
      value: tf.scalar(total),
      gradFunc: (dy: tf.Tensor) => [tf.mul(dy, tf.tensor2d(dc, [n, nm])), tf.mul(dy, tf.tensor3d(dp, [mh, mw, nm]))],
    };
  });
  return op(coefs, proto) as tf.Scalar;
}

/**
 * 0/1 weights of a level's objectness cells: 0 where the cell centre falls on ignored pixels
 * (the ignore maps are at 512 px, the tile size), and their sum. Null when nothing is ignored.
 */
function objectnessWeights(ignore: LossBatch['ignore'], n: number, gh: number, gw: number, na: number): { weights: Float32Array; count: number } | null {
  if (!ignore || ignore.every((m) => !m)) return null;
  const w = new Float32Array(n * gh * gw * na).fill(1);
  const tile = 512;
  let count = 0;
  for (let b = 0; b < n; b++) {
    const m = ignore[b];
    for (let gy = 0; gy < gh; gy++) for (let gx = 0; gx < gw; gx++) {
      const px = Math.min(tile - 1, Math.floor(((gx + 0.5) / gw) * tile)), py = Math.min(tile - 1, Math.floor(((gy + 0.5) / gh) * tile));
      const off = m && m[py * tile + px] ? 0 : 1;
      for (let a = 0; a < na; a++) w[((b * gh + gy) * gw + gx) * na + a] = off;
      count += off * na;
    }
  }
  return { weights: w, count };
}

/** One assigned prediction whose mask the loss scores: its row in the level's [cells, no] view. */
interface MaskRow { cell: number; image: number; mask: Float32Array; box: [number, number, number, number]; scale: number }

/** What the per-cell part of one level's loss needs: objectness targets (and weights), and the mask rows. */
interface DenseLevel {
  tobj: Float32Array;
  weights: { weights: Float32Array; count: number } | null;
  balance: number;
  rows: MaskRow[];
}

/**
 * The parts of the loss that touch every cell or every prototype pixel, as one custom-gradient
 * op over the raw outputs in plain arrays: objectness BCE (per level, mean over cells or over the
 * unignored ones, times the level's balance) and the mask loss of every assigned prediction.
 * Returns [objectness, mask]. Done in tfjs, the same sums cost a 5-D slice in tfjs's generic JS
 * path per level and a prototype-sized gradient per image and level (the loss took 30% of a
 * training step at 640 px).
 */
function denseLoss(heads: tf.Tensor4D[], proto: tf.Tensor4D, levels: DenseLevel[], no: number, coefAt: number): tf.Tensor1D {
  const [, mh, mw, nm] = proto.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args.slice(0, heads.length + 1) as tf.Tensor[];
    const pd = xs[heads.length]!.dataSync() as Float32Array;
    const dproto = new Float32Array(pd.length);
    const dheads: Float32Array[] = [];
    let obj = 0, seg = 0;
    levels.forEach((level, k) => {
      const hd = xs[k]!.dataSync() as Float32Array;
      const dh = new Float32Array(hd.length);
      const { tobj, weights, balance } = level;
      const norm = weights ? Math.max(weights.count, 1) : tobj.length;
      let sum = 0;
      for (let c = 0; c < tobj.length; c++) {
        if (weights && weights.weights[c] === 0) continue;
        const x = hd[c * no + 4]!, t = tobj[c]!;
        sum += bceOfLogit(x, t);
        dh[c * no + 4] = ((sigmoid(x) - t) * balance) / norm;
      }
      obj += (sum / norm) * balance;
      for (const r of level.rows) seg += maskRowLoss(hd, r.cell * no + coefAt, pd, r.image * mh * mw * nm, [mh, mw, nm], r.mask, r.box, r.scale, dh, dproto);
      dheads.push(dh);
    });
    return {
      value: tf.tensor1d([obj, seg]),
      gradFunc: (dy: tf.Tensor) => {
        const [dObj, dSeg] = dy.dataSync() as Float32Array;
        const grads = dheads.map((dh, k) => {
          // Channel 4 of each cell is objectness, channels from coefAt its mask coefficients.
          for (let i = 0, j = 0; i < dh.length; i++, j = j + 1 === no ? 0 : j + 1) {
            if (j === 4) dh[i] *= dObj!;
            else if (j >= coefAt) dh[i] *= dSeg!;
          }
          return tf.tensor4d(dh, heads[k]!.shape);
        });
        for (let i = 0; i < dproto.length; i++) dproto[i] *= dSeg!;
        return [...grads, tf.tensor4d(dproto, proto.shape)];
      },
    };
  });
  return op(...heads, proto) as tf.Tensor1D;
}

/**
 * A normalised box as the official code has it after `build_targets`: float32, scaled to the
 * level's grid and back (not exact when the grid is not a power of two, e.g. 80 at 640 px).
 */
function gridRounded([cx, cy, w, h]: [number, number, number, number], gw: number, gh: number): [number, number, number, number] {
  const f = Math.fround;
  return [f(f(f(cx) * gw) / gw), f(f(f(cy) * gh) / gh), f(f(f(w) * gw) / gw), f(f(f(h) * gh) / gh)];
}

/** The total loss of a batch (YOLOv5-seg's, times the batch size) and its parts. */
export function computeLoss(out: ModelOutputs, batch: LossBatch, config: ModelConfig, hyp: LossHyp): LossParts {
  const bs = out.proto.shape[0];
  const na = config.anchors[0]!.length;
  const no = outputsPerAnchor(config);
  const nc = config.classes.length;
  const [, mh, mw] = out.proto.shape;
  let lbox: tf.Tensor = tf.scalar(0), lcls: tf.Tensor = tf.scalar(0);
  const levels = out.heads.map((head, level): DenseLevel => {
    const [n, gh, gw] = head.shape;
    const stride = (mh * 4) / gh;
    const as = assignLevel(batch.targets, config.anchors[level]!, stride, gw, gh, hyp.anchorT);
    const tobj = new Float32Array(n * gh * gw * na);
    const rows: MaskRow[] = [];
    if (as.count > 0) {
      // Rows of the flattened [n * gh * gw * na, no] predictions (tfjs has no GatherNd gradient).
      const flat = Int32Array.from({ length: as.count }, (_, r) => ((as.image[r]! * gh + as.gy[r]!) * gw + as.gx[r]!) * na + as.anchor[r]!);
      const ps = tf.gather(tf.reshape(head, [-1, no]), tf.tensor1d(flat, 'int32')) as tf.Tensor2D; // [count, no]
      const pxy = tf.sub(tf.mul(tf.sigmoid(tf.slice(ps, [0, 0], [-1, 2])), 2), 0.5);
      const pwh = tf.mul(tf.square(tf.mul(tf.sigmoid(tf.slice(ps, [0, 2], [-1, 2])), 2)), tf.tensor2d(as.anchorWh, [as.count, 2]));
      const iou = ciou(tf.concat([pxy, pwh], 1) as tf.Tensor2D, tf.tensor2d(as.tbox, [as.count, 4]));
      lbox = tf.add(lbox, tf.mean(tf.sub(1, iou)));
      const iouValues = iou.dataSync();
      for (let r = 0; r < as.count; r++) tobj[flat[r]!] = Math.max(iouValues[r]!, 0);
      if (nc > 1) {
        const onehot = tf.oneHot(tf.tensor1d(as.cls, 'int32'), nc);
        lcls = tf.add(lcls, tf.mean(bceWithLogits(tf.slice(ps, [0, 5], [-1, nc]), onehot)));
      }
      // Each image's mask loss is the mean over its assigned predictions.
      const perImage = new Int32Array(n);
      for (const b of as.image) perImage[b]++;
      for (let r = 0; r < as.count; r++) {
        const target = as.target[r]!, image = as.image[r]!;
        const box = gridRounded(batch.targets[target]!.box, gw, gh);
        rows.push({ cell: flat[r]!, image, mask: batch.masks[target]!, box, scale: maskScale(mh, mw, box) / perImage[image]! });
      }
    }
    return { tobj, weights: objectnessWeights(batch.ignore, n, gh, gw, na), balance: hyp.balance[level]!, rows };
  });
  // Objectness and masks in one op; it also gives unused prototypes (a batch without targets)
  // the zero gradient PyTorch would, which the onnx engine needs for every output.
  const [lobj, lseg] = tf.unstack(denseLoss(out.heads, out.proto, levels, no, 5 + nc)) as [tf.Scalar, tf.Scalar];
  const box = tf.mul(lbox, hyp.box) as tf.Scalar;
  const obj = tf.mul(lobj, hyp.obj) as tf.Scalar;
  const cls = tf.mul(lcls, hyp.cls) as tf.Scalar;
  const seg = tf.mul(lseg, hyp.box / bs) as tf.Scalar;
  const total = tf.mul(tf.addN([box, obj, cls, seg]), bs) as tf.Scalar;
  return { total, box, obj, cls, seg };
}
