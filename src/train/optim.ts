import { adamwStep, addInto, emaStep, scaleBy, sgdStep, sumOfSquares } from './kernels.ts';

/**
 * YOLOv5/7's three parameter groups: conv weights (with weight decay), BN scales and biases
 * (without), each with its own learning rate during warm-up.
 */
export type ParamGroup = 'weights' | 'norm' | 'bias';

export function paramGroup(name: string): ParamGroup {
  if (name.endsWith('.w')) return 'weights';
  if (name.endsWith('.bias') || name.endsWith('.beta')) return 'bias';
  return 'norm';
}

/** Plain arrays by weight name: parameters, their gradients, optimiser state. */
export type Arrays = ReadonlyMap<string, Float32Array>;

function zerosLike(params: Arrays): Map<string, Float32Array> {
  return new Map([...params].map(([name, p]) => [name, new Float32Array(p.length)]));
}

/**
 * The optimisers, EMA and clipping work on plain Float32Arrays in place: no tfjs op dispatch
 * (an AdamW step was ~2,800 of them, 36-47 ms of a 350 ms tiny step) and no weight-sized
 * allocation per step. Each element is computed in double and rounded once when stored, by
 * the SIMD kernels of kernels.ts.
 */
export class Sgd {
  readonly velocity: Map<string, Float32Array>;

  constructor(readonly params: Arrays, public momentum: number, readonly weightDecay: number) {
    this.velocity = zerosLike(params);
  }

  /** p -= lr * (g + m * v) with v = m * v + g, and g += wd * p for conv weights (PyTorch's nesterov SGD). */
  step(grads: Arrays, lr: Record<ParamGroup, number>): void {
    const m = this.momentum;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const group = paramGroup(name);
      const wd = group === 'weights' ? this.weightDecay : 0, rate = lr[group];
      sgdStep(p, g, this.velocity.get(name)!, wd, m, rate);
    }
  }
}

/** Scale the gradients in place so their global L2 norm is at most `maxNorm` (torch's clip_grad_norm_); returns the norm. */
export function clipGlobalNorm(grads: Arrays, maxNorm: number): number {
  let squares = 0;
  for (const g of grads.values()) squares = sumOfSquares(g, squares);
  const norm = Math.sqrt(squares);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads.values()) scaleBy(g, coef);
  return norm;
}

/** Adds each gradient into the running sum of the same name (gradient accumulation). */
export function accumulateGradients(sums: Arrays, grads: Arrays): void {
  for (const [name, g] of grads) addInto(sums.get(name)!, g);
}

/**
 * Exponential moving average of weights (and BN statistics) with YOLOv5's ramp:
 * d = decay (1 - exp(-updates / tau)). `shadow` holds every name it averages.
 */
export class Ema {
  updates = 0;
  constructor(readonly shadow: Arrays, readonly decay = 0.9999, readonly tau = 2000) {}

  update(source: Arrays): void {
    this.updates++;
    const d = this.decay * (1 - Math.exp(-this.updates / this.tau)), e = 1 - d;
    for (const [name, s] of this.shadow) emaStep(s, source.get(name)!, d, e);
  }
}

/** The learning-rate factor at an epoch: linear (YOLOv5 default) or cosine from 1 to `lrf`. */
export function lrFactor(epoch: number, epochs: number, lrf: number, cosine: boolean): number {
  if (cosine) return ((1 - Math.cos((epoch * Math.PI) / epochs)) / 2) * (lrf - 1) + 1;
  return (1 - epoch / epochs) * (1 - lrf) + lrf;
}

/** Round half to even, as numpy's `round` (the official warm-up rounds its accumulation with it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Batches accumulated per update at batch `ni` of a warm-up of `nw` batches, rising from 1 to
 * `nominal` (nbs / batch) as the official train.py does; `nominal` itself after the warm-up.
 */
export function accumulationAt(ni: number, nw: number, nominal: number): number {
  if (ni > nw) return Math.max(1, Math.round(nominal));
  return Math.max(1, roundHalfEven(interp(ni, 0, nw, 1, nominal)));
}

export function interp(x: number, x0: number, x1: number, y0: number, y1: number): number {
  if (x <= x0) return y0;
  if (x >= x1) return y1;
  return y0 + ((x - x0) / (x1 - x0)) * (y1 - y0);
}

/** AdamW (decoupled weight decay on conv weights only), the option YOLO trainers offer for small data. */
export class AdamW {
  readonly m: Map<string, Float32Array>;
  readonly v: Map<string, Float32Array>;
  t = 0;

  constructor(readonly params: Arrays, readonly beta1 = 0.937, readonly beta2 = 0.999, readonly weightDecay = 5e-4, readonly eps = 1e-8) {
    this.m = zerosLike(params);
    this.v = zerosLike(params);
  }

  /**
   * As torch.optim.AdamW: p -= lr * (m^ / (sqrt(v^) + eps) + wd * p), with m^, v^ the
   * bias-corrected moments, computed as m (1 / c1) / (sqrt(v) (1 / sqrt(c2)) + eps): one
   * square root and one division per weight instead of a square root and three divisions. The
   * factors round differently in double precision from m^ = m / c1 and so on, so a float32
   * result could differ in its last bit from that form; none did over four steps of 37.9M
   * random weights, nor in a 2-epoch tiny run (its weights file byte-equal).
   */
  step(grads: Arrays, lr: Record<ParamGroup, number>): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 - b1 ** this.t, c2 = 1 - b2 ** this.t;
    const unbias1 = 1 / c1, unbias2 = 1 / Math.sqrt(c2);
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      const group = paramGroup(name);
      const wd = group === 'weights' ? this.weightDecay : 0;
      adamwStep(p, g, this.m.get(name)!, this.v.get(name)!, b1, b2, unbias1, unbias2, eps, lr[group], wd);
    }
  }
}
