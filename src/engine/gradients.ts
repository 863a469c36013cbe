/**
 * Gradients the portable tfjs backends lack or get wrong (tfjs 4.22), registered over the
 * defaults for every backend, as plain ops every backend runs fast:
 * - Conv2D: wasm has no `Conv2DBackpropFilter`, and its `Conv2DBackpropInput` is a scalar loop.
 *   dW is one convolution with batch and channel roles swapped (dilation = stride), or one
 *   matMul for 1x1 stride-1 convolutions; dX is one stride-1 convolution per stride phase
 *   with a sub-filter of the flipped, transposed kernel, the phases interleaved by reshapes.
 * - MaxPool: wasm's `MaxPoolGrad` treats padding as 0 instead of -inf (wrong when a padded
 *   window's maximum is negative): rebuilt from shifted comparisons, first maximum wins.
 * - ResizeNearestNeighbor: tfjs-cpu's gradient kernel is wrong for batch > 1; an integer
 *   upscale's gradient is a reshape and a sum.
 * - GatherV2 (axis 0): wasm has no `UnsortedSegmentSum`; the gradient is a `ScatterNd`,
 *   which sums the rows of repeated indices.
 * Each is checked against a float64 reference in test/engine/.
 */
import * as tf from '@tensorflow/tfjs-core';

type T4 = tf.Tensor4D;
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

const pair = (v: number | [number, number] | number[]): [number, number] => (Array.isArray(v) ? [v[0]!, v[1]!] : [v, v]);

/** Slice or zero-pad axis `axis` of x so `before` elements come first and the length is `length`. */
function window(x: T4, axis: 1 | 2, before: number, length: number): T4 {
  let out = x;
  if (before > 0) {
    const pads: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    pads[axis] = [before, 0];
    out = tf.pad(out, pads);
  } else if (before < 0) {
    const begin = [0, 0, 0, 0];
    begin[axis] = -before;
    out = tf.slice(out, begin);
  }
  const have = out.shape[axis];
  if (have < length) {
    const pads: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    pads[axis] = [0, length - have];
    out = tf.pad(out, pads);
  } else if (have > length) {
    const size = [-1, -1, -1, -1];
    size[axis] = length;
    out = tf.slice(out, [0, 0, 0, 0], size);
  }
  return out;
}

/** Interleave phase outputs P[rh][rw] ([N, Mh, Mw, C] each) into [N, Mh*s, Mw*s, C], then crop or zero-pad to H x W. */
export function interleavePhases(phases: T4[][], height: number, width: number): T4 {
  const s = phases.length;
  const [n, mh, mw, c] = phases[0]![0]!.shape;
  const rows = phases.map((row) => tf.reshape(tf.stack(row, 3), [n, mh, mw * s, c]));
  const full = tf.reshape(tf.stack(rows, 2), [n, mh * s, mw * s, c]) as T4;
  if (mh * s === height && mw * s === width) return full;
  return window(window(full, 1, 0, height), 2, 0, width);
}

/** dL/dx of a stride-s convolution: one stride-1 convolution per output phase. */
export function conv2dInputGrad(dy: T4, filter: T4, xShape: [number, number, number, number], strides: [number, number], padTop: number, padLeft: number): T4 {
  const [n, h, w, ci] = xShape;
  const [kh, kw] = filter.shape;
  const [sh, sw] = strides;
  // Spatially flipped, in/out transposed kernel: [KH, KW, Co, Ci].
  const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as T4;
  const mh = Math.ceil(h / sh), mw = Math.ceil(w / sw);
  const phases: T4[][] = [];
  for (let rh = 0; rh < sh; rh++) {
    const row: T4[] = [];
    for (let rw = 0; rw < sw; rw++) {
      // Taps of the kernel that reach phase (rh, rw): k = s*j + c, c = (r + pad) mod s.
      const ch = (rh + padTop) % sh, cw = (rw + padLeft) % sw;
      const jh = Math.max(0, Math.ceil((kh - ch) / sh)), jw = Math.max(0, Math.ceil((kw - cw) / sw));
      if (jh === 0 || jw === 0) {
        row.push(tf.zeros([n, mh, mw, ci]) as T4);
        continue;
      }
      const dh = (rh + padTop - ch) / sh, dw = (rw + padLeft - cw) / sw;
      // Sub-filter of the flipped kernel: flipped index K-1-(s*j+c), j = Jc-1..0 (already reversed).
      const sub = tf.stridedSlice(flipped, [kh - 1 - ch - (jh - 1) * sh, kw - 1 - cw - (jw - 1) * sw, 0, 0], [kh - ch, kw - cw, flipped.shape[2], ci], [sh, sw, 1, 1]) as T4;
      // Phase output m reads dy[m + d - (J-1) .. m + d]: window dy to start at d - (J-1), length M + J - 1.
      let win = window(dy, 1, jh - 1 - dh, mh + jh - 1);
      win = window(win, 2, jw - 1 - dw, mw + jw - 1);
      row.push(tf.conv2d(win, sub, 1, 'valid'));
    }
    phases.push(row);
  }
  if (sh === 1 && sw === 1) return phases[0]![0]!;
  return interleavePhases(phases, h, w);
}

/** dL/dW of a convolution: batch and channels swap roles, the stride becomes a dilation. */
export function conv2dFilterGrad(x: T4, dy: T4, filterShape: [number, number, number, number], strides: [number, number], padTop: number, padLeft: number): T4 {
  const [kh, kw, ci, co] = filterShape;
  const [sh, sw] = strides;
  const [n, h, w] = x.shape;
  const [, oh, ow] = dy.shape;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && padTop === 0 && padLeft === 0) {
    // An explicit transpose then a plain GEMM: wasm's matMul with transposeA is 5-7x slower.
    const g = tf.matMul(tf.transpose(tf.reshape(x, [n * h * w, ci])), tf.reshape(dy, [n * oh * ow, co]));
    return tf.reshape(g, [1, 1, ci, co]);
  }
  // Input rows padTop.. so that output row kh' reads x[kh' + oh*s - padTop].
  let xt = tf.transpose(x, [3, 1, 2, 0]) as T4; // [Ci, H, W, N]
  xt = window(xt, 1, padTop, (oh - 1) * sh + kh);
  xt = window(xt, 2, padLeft, (ow - 1) * sw + kw);
  const f = tf.transpose(dy, [1, 2, 0, 3]) as T4; // [OH, OW, N, Co]
  const g = tf.conv2d(xt, f, 1, 'valid', 'NHWC', [sh, sw]); // [Ci, KH, KW, Co]
  return tf.transpose(g, [1, 2, 0, 3]);
}

function convInfo(x: T4, filter: T4, strides: number | [number, number], pad: Pad, dims: number | [number, number], rounding?: 'floor' | 'round' | 'ceil') {
  return tf.backend_util.computeConv2DInfo(x.shape, filter.shape, strides, dims, pad as never, rounding);
}

/** Max pooling's gradient from shifted comparisons (first maximum in the window wins, as tfjs). */
export function maxPoolGrad(dy: T4, x: T4, y: T4, size: [number, number], strides: [number, number], padTop: number, padLeft: number): T4 {
  const [n, h, w, c] = x.shape;
  const [oh, ow] = [y.shape[1], y.shape[2]];
  const [kh, kw] = size;
  const [sh, sw] = strides;
  // x padded with -inf so padding never equals a window maximum.
  const padded = tf.pad(x, [[0, 0], [padTop, Math.max(0, (oh - 1) * sh + kh - h - padTop)], [padLeft, Math.max(0, (ow - 1) * sw + kw - w - padLeft)], [0, 0]], -Infinity);
  let unclaimed = tf.onesLike(y);
  const parts: { dh: number; dw: number; g: T4 }[] = [];
  for (let dh = 0; dh < kh; dh++) {
    for (let dw = 0; dw < kw; dw++) {
      const xs = tf.stridedSlice(padded, [0, dh, dw, 0], [n, dh + (oh - 1) * sh + 1, dw + (ow - 1) * sw + 1, c], [1, sh, sw, 1]) as T4;
      const hit = tf.mul(tf.cast(tf.equal(xs, y), 'float32'), unclaimed);
      unclaimed = tf.sub(unclaimed, hit);
      parts.push({ dh, dw, g: tf.mul(dy, hit) });
    }
  }
  if (sh === 1 && sw === 1) {
    // Each offset's share lands at x[o + d - pad]: shift it into place and add.
    let dx = tf.zeros([n, h + kh - 1, w + kw - 1, c]) as T4;
    for (const { dh, dw, g } of parts) dx = tf.add(dx, tf.pad(g, [[0, 0], [dh, kh - 1 - dh], [dw, kw - 1 - dw], [0, 0]]));
    return tf.slice(dx, [0, padTop, padLeft, 0], [n, h, w, c]);
  }
  if (kh === sh && kw === sw && padTop === 0 && padLeft === 0) {
    // Non-overlapping windows: offset (dh, dw) is exactly phase (dh, dw) of x.
    const phases = Array.from({ length: sh }, (_, dh) => Array.from({ length: sw }, (_, dw) => parts.find((p) => p.dh === dh && p.dw === dw)!.g));
    return interleavePhases(phases, h, w);
  }
  throw new Error(`MaxPool gradient: window ${kh}x${kw} with stride ${sh}x${sw} is not supported (stride 1, or window = stride)`);
}

let registered = false;

/**
 * Register the gradients above (once per process), replacing tfjs' defaults. Kernel attributes
 * arrive as tfjs' untyped NamedAttrMap; each is cast to the kernel's documented attribute type.
 */
export function registerGradientFixes(): void {
  if (registered) return;
  registered = true;
  const original = {
    resize: tf.getGradient(tf.ResizeNearestNeighbor),
  };
  tf.unregisterGradient(tf.Conv2D);
  tf.registerGradient({
    kernelName: tf.Conv2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [T4, T4];
      const { strides, pad, dilations, dimRoundingMode, dataFormat } = attrs as unknown as tf.Conv2DAttrs;
      if (dataFormat && dataFormat !== 'NHWC') throw new Error('Conv2D gradient: only NHWC');
      if (pair(dilations).some((d) => d !== 1)) throw new Error('Conv2D gradient: dilated convolutions are not supported');
      const info = convInfo(x, filter, strides, pad as Pad, 1, dimRoundingMode);
      const s = pair(strides);
      return {
        x: () => conv2dInputGrad(dy as T4, filter, x.shape, s, info.padInfo.top, info.padInfo.left),
        filter: () => conv2dFilterGrad(x, dy as T4, filter.shape, s, info.padInfo.top, info.padInfo.left),
      };
    },
  });
  tf.unregisterGradient(tf.MaxPool);
  tf.registerGradient({
    kernelName: tf.MaxPool,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, y] = saved as [T4, T4];
      const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolAttrs;
      const info = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad as never, dimRoundingMode);
      return { x: () => maxPoolGrad(dy as T4, x, y, pair(filterSize), pair(strides), info.padInfo.top, info.padInfo.left) };
    },
  });
  const originalGather = tf.getGradient(tf.GatherV2);
  tf.unregisterGradient(tf.GatherV2);
  tf.registerGradient({
    kernelName: tf.GatherV2,
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const [x, indices] = saved as [tf.Tensor, tf.Tensor];
      const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
      const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
      if (ax !== 0 || batchDims !== 0 || indices.rank !== 1) return originalGather.gradFunc(dy, saved, attrs);
      return {
        x: () => tf.scatterND(tf.reshape(indices, [-1, 1]), dy as tf.Tensor, x.shape),
        indices: () => tf.zerosLike(indices),
      };
    },
  });
  tf.unregisterGradient(tf.ResizeNearestNeighbor);
  tf.registerGradient({
    kernelName: tf.ResizeNearestNeighbor,
    inputsToSave: ['images'],
    gradFunc: (dy, saved, attrs) => {
      const [images] = saved as [T4];
      const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeNearestNeighborAttrs;
      const [n, h, w, c] = images.shape;
      const [, oh, ow] = (dy as T4).shape;
      if (!alignCorners && !halfPixelCenters && oh % h === 0 && ow % w === 0) {
        const fh = oh / h, fw = ow / w;
        return { images: () => tf.sum(tf.reshape(dy as tf.Tensor, [n, h, fh, w, fw, c]), [2, 4]) };
      }
      return original.resize.gradFunc(dy, saved, attrs);
    },
  });
}
