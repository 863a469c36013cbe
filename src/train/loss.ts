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

/**
 * Complete IoU of a predicted and a target box, both (cx, cy, w, h) (YOLOv5's bbox_iou with
 * CIoU), and into `grad` its gradient with respect to the predicted box. The trade-off weight
 * alpha is a constant, as YOLOv5 computes it outside the gradient. Min, max and the clamp pass
 * the gradient as tfjs' and PyTorch's do away from ties.
 */
export function ciou(p: ArrayLike<number>, t: ArrayLike<number>, grad: Float64Array = new Float64Array(4)): number {
  const [px, py, pw] = [p[0]!, p[1]!, p[2]!], [tx, ty, tw] = [t[0]!, t[1]!, t[2]!];
  // eps on the heights only, as YOLOv5 (it keeps the aspect-ratio term finite).
  const ph = p[3]! + EPS, th = t[3]! + EPS;
  const p1x = px - pw / 2, p2x = px + pw / 2, p1y = py - ph / 2, p2y = py + ph / 2;
  const t1x = tx - tw / 2, t2x = tx + tw / 2, t1y = ty - th / 2, t2y = ty + th / 2;
  const iwRaw = Math.min(p2x, t2x) - Math.max(p1x, t1x), ihRaw = Math.min(p2y, t2y) - Math.max(p1y, t1y);
  const iw = Math.max(iwRaw, 0), ih = Math.max(ihRaw, 0);
  const inter = iw * ih;
  const union = pw * ph + tw * th - inter + EPS;
  const iou = inter / union;
  const cw = Math.max(p2x, t2x) - Math.min(p1x, t1x), ch = Math.max(p2y, t2y) - Math.min(p1y, t1y);
  const c2 = cw * cw + ch * ch + EPS;
  const dx = t1x + t2x - (p1x + p2x), dy = t1y + t2y - (p1y + p2y);
  const rho2 = (dx * dx + dy * dy) / 4;
  const k = 4 / Math.PI ** 2, da = Math.atan(tw / th) - Math.atan(pw / ph);
  const v = k * da * da;
  const alpha = v / (v - iou + 1 + EPS);
  // Backward from d ciou = 1, through ciou = iou - rho2 / c2 - v alpha.
  const dInter0 = 1 / union, dUnion = -inter / (union * union);
  const dInter = dInter0 - dUnion;
  const dIw = iwRaw > 0 ? dInter * ih : 0, dIh = ihRaw > 0 ? dInter * iw : 0;
  const dC2 = rho2 / (c2 * c2), dCw = 2 * cw * dC2, dCh = 2 * ch * dC2;
  const dDx = (-1 / c2) * (dx / 2), dDy = (-1 / c2) * (dy / 2);
  // v = k (atan(tw / th) - atan(r))^2 with r = pw / ph.
  const dR = -alpha * -2 * k * da / (1 + (pw / ph) ** 2);
  const dP1x = (p1x >= t1x ? -dIw : 0) + (p1x <= t1x ? -dCw : 0) - dDx;
  const dP2x = (p2x <= t2x ? dIw : 0) + (p2x >= t2x ? dCw : 0) - dDx;
  const dP1y = (p1y >= t1y ? -dIh : 0) + (p1y <= t1y ? -dCh : 0) - dDy;
  const dP2y = (p2y <= t2y ? dIh : 0) + (p2y >= t2y ? dCh : 0) - dDy;
  grad[0] = dP1x + dP2x;
  grad[1] = dP1y + dP2y;
  grad[2] = (dP2x - dP1x) / 2 + dUnion * ph + dR / ph;
  grad[3] = (dP2y - dP1y) / 2 + dUnion * pw - (dR * pw) / (ph * ph);
  return iou - (rho2 / c2 + v * alpha);
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
 * cost 30x more, issue 8), times `scale`; the gradients also times `gradScale`. Prototypes are
 * [mh, mw, nm] from `protoAt`, coefficients nm values from `coefAt`. Returns the loss.
 */
function maskRowLoss(coefs: Float32Array, coefAt: number, proto: Float32Array, protoAt: number, shape: [number, number, number],
  target: Float32Array, [cx, cy, w, h]: [number, number, number, number], scale: number, gradScale: number, dcoefs: Float32Array, dproto: Float32Array): number {
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
    const g = (sigmoid(z) - t) * scale * gradScale;
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
 * computes all images and levels at once in `lossOnArrays`; this is the same arithmetic on its own).
 */
export function maskLoss(coefs: tf.Tensor2D, proto: tf.Tensor3D, gt: Float32Array[], boxes: [number, number, number, number][]): tf.Scalar {
  const [mh, mw, nm] = proto.shape;
  const n = gt.length;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [c, p] = args as tf.Tensor[];
    const cd = c!.dataSync() as Float32Array, pd = p!.dataSync() as Float32Array;
    const dc = new Float32Array(n * nm), dp = new Float32Array(mh * mw * nm);
    let total = 0;
    boxes.forEach((box, k) => { total += maskRowLoss(cd, k * nm, pd, 0, [mh, mw, nm], gt[k]!, box, maskScale(mh, mw, box) / n, 1, dc, dp); });
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

/**
 * A normalised box as the official code has it after `build_targets`: float32, scaled to the
 * level's grid and back (not exact when the grid is not a power of two, e.g. 80 at 640 px).
 */
function gridRounded([cx, cy, w, h]: [number, number, number, number], gw: number, gh: number): [number, number, number, number] {
  const f = Math.fround;
  return [f(f(f(cx) * gw) / gw), f(f(f(cy) * gh) / gh), f(f(f(w) * gw) / gw), f(f(f(h) * gh) / gh)];
}

/** A model output as plain values: a head [n, gh, gw, na * no] or the prototypes [n, mh, mw, nm], NHWC. */
export interface OutputArray {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** A batch's loss parts (each with its gain), their total, and the total's gradient with respect to each output. */
export interface PlainLoss {
  box: number;
  obj: number;
  cls: number;
  seg: number;
  total: number;
  /** d total / d output, one array per output in `OutputArray` order (heads, then the prototypes). */
  grads: Float32Array[];
}

/** A loss over plain outputs (heads, then the prototypes): what the training engines call. */
export type PlainLossFunction = (outputs: readonly OutputArray[]) => PlainLoss;

/**
 * The total loss of a batch (YOLOv5-seg's, times the batch size), its parts, and its gradients,
 * in plain arrays: every term touches only the assigned predictions or one value per cell, so
 * loops visit exactly those (as tfjs ops the loss was about a fifth of a tiny training step at
 * 256 px, most of it dispatching a few hundred small ops and scattering gathered rows back
 * into whole heads).
 */
export function lossOnArrays(outputs: readonly OutputArray[], batch: LossBatch, config: ModelConfig, hyp: LossHyp): PlainLoss {
  const heads = outputs.slice(0, -1), proto = outputs[outputs.length - 1]!;
  const [bs, mh, mw, nm] = proto.shape;
  const na = config.anchors[0]!.length;
  const no = outputsPerAnchor(config);
  const nc = config.classes.length;
  const coefAt = 5 + nc;
  // total = bs * (box + obj + cls + seg), each part with its gain (seg's is box / bs).
  const gBox = bs * hyp.box, gObj = bs * hyp.obj, gCls = bs * hyp.cls, gSeg = hyp.box;
  const dproto = new Float32Array(proto.data.length);
  const dBox = new Float64Array(4), pbox = new Float64Array(4);
  let lbox = 0, lobj = 0, lcls = 0, lseg = 0;
  const grads = heads.map(({ data: hd, shape: [n, gh, gw] }, level) => {
    const dh = new Float32Array(hd.length);
    const as = assignLevel(batch.targets, config.anchors[level]!, (mh * 4) / gh, gw, gh, hyp.anchorT);
    const tobj = new Float32Array(n * gh * gw * na);
    // Each image's mask loss is the mean over its assigned predictions.
    const perImage = new Int32Array(n);
    for (const b of as.image) perImage[b]++;
    for (let r = 0; r < as.count; r++) {
      const cell = ((as.image[r]! * gh + as.gy[r]!) * gw + as.gx[r]!) * na + as.anchor[r]!;
      const at = cell * no;
      // The box: xy = 2 sigmoid - 0.5, wh = (2 sigmoid)^2 x anchor, as YOLOv5.
      const sx = sigmoid(hd[at]!), sy = sigmoid(hd[at + 1]!), sw = sigmoid(hd[at + 2]!), sh = sigmoid(hd[at + 3]!);
      const aw = as.anchorWh[2 * r]!, ah = as.anchorWh[2 * r + 1]!;
      pbox[0] = 2 * sx - 0.5; pbox[1] = 2 * sy - 0.5; pbox[2] = 4 * sw * sw * aw; pbox[3] = 4 * sh * sh * ah;
      const iou = ciou(pbox, as.tbox.subarray(4 * r, 4 * r + 4), dBox);
      lbox += (1 - iou) / as.count;
      const g = -gBox / as.count;
      dh[at] += g * dBox[0]! * 2 * sx * (1 - sx);
      dh[at + 1] += g * dBox[1]! * 2 * sy * (1 - sy);
      dh[at + 2] += g * dBox[2]! * 8 * sw * sw * (1 - sw) * aw;
      dh[at + 3] += g * dBox[3]! * 8 * sh * sh * (1 - sh) * ah;
      // Objectness aims at the (detached, clamped) CIoU; a cell assigned twice keeps the last, as index_put.
      tobj[cell] = Math.max(iou, 0);
      if (nc > 1) {
        const norm = as.count * nc;
        for (let c = 0; c < nc; c++) {
          const z = hd[at + 5 + c]!, t = c === as.cls[r] ? 1 : 0;
          lcls += bceOfLogit(z, t) / norm;
          dh[at + 5 + c] += (gCls * (sigmoid(z) - t)) / norm;
        }
      }
      const target = as.target[r]!, image = as.image[r]!;
      const box = gridRounded(batch.targets[target]!.box, gw, gh);
      const scale = maskScale(mh, mw, box) / perImage[image]!;
      lseg += maskRowLoss(hd, at + coefAt, proto.data, image * mh * mw * nm, [mh, mw, nm], batch.masks[target]!, box, scale, gSeg, dh, dproto);
    }
    // Objectness over every cell (or every unignored one), times the level's balance.
    const weights = objectnessWeights(batch.ignore, n, gh, gw, na);
    const balance = hyp.balance[level]!;
    const norm = weights ? Math.max(weights.count, 1) : tobj.length;
    let sum = 0;
    for (let c = 0; c < tobj.length; c++) {
      if (weights && weights.weights[c] === 0) continue;
      const x = hd[c * no + 4]!, t = tobj[c]!;
      sum += bceOfLogit(x, t);
      dh[c * no + 4] = (gObj * (sigmoid(x) - t) * balance) / norm;
    }
    lobj += (sum / norm) * balance;
    return dh;
  });
  const box = lbox * hyp.box, obj = lobj * hyp.obj, cls = lcls * hyp.cls, seg = (lseg * hyp.box) / bs;
  return { box, obj, cls, seg, total: (box + obj + cls + seg) * bs, grads: [...grads, dproto] };
}

/** A plain loss as a tfjs op: the total carries its gradients, the parts are constants. */
export function asTfLoss(loss: PlainLossFunction): (out: ModelOutputs) => LossParts {
  return (out) => {
    const xs = [...out.heads, out.proto];
    let result: PlainLoss | null = null;
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const inputs = args.slice(0, xs.length) as tf.Tensor4D[];
      const r = loss(inputs.map((t) => ({ data: t.dataSync() as Float32Array, shape: t.shape })));
      result = r;
      return {
        value: tf.scalar(r.total),
        gradFunc: (dy: tf.Tensor) => {
          const s = dy.dataSync()[0]!;
          return r.grads.map((g, k) => tf.tensor4d(s === 1 ? g : g.map((v) => v * s), inputs[k]!.shape));
        },
      };
    });
    const total = op(...xs) as tf.Scalar;
    const r = result! as PlainLoss;
    return { total, box: tf.scalar(r.box), obj: tf.scalar(r.obj), cls: tf.scalar(r.cls), seg: tf.scalar(r.seg) };
  };
}

/** The loss of a batch on tfjs outputs, as a tfjs op for tfjs autograd (the tests compare it with the official ComputeLoss this way). */
export function computeLoss(out: ModelOutputs, batch: LossBatch, config: ModelConfig, hyp: LossHyp): LossParts {
  return asTfLoss((outputs) => lossOnArrays(outputs, batch, config, hyp))(out);
}
