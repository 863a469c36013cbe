import { tf } from '../engine/backend.ts';

/**
 * SGD with Nesterov momentum as YOLOv5/7 trains: three parameter groups (conv weights with
 * weight decay; BN scales and biases without), per-group learning rates during warm-up.
 */
export type ParamGroup = 'weights' | 'norm' | 'bias';

export function paramGroup(name: string): ParamGroup {
  if (name.endsWith('.w')) return 'weights';
  if (name.endsWith('.bias') || name.endsWith('.beta')) return 'bias';
  return 'norm';
}

export class Sgd {
  readonly velocity = new Map<string, tf.Variable>();

  constructor(readonly params: Map<string, tf.Variable>, public momentum: number, readonly weightDecay: number) {
    for (const [name, v] of params) this.velocity.set(name, tf.variable(tf.zerosLike(v), false));
  }

  /** p -= lr * (g + m * v) with v = m * v + g, and g += wd * p for conv weights (PyTorch's nesterov SGD). */
  step(grads: Map<string, tf.Tensor>, lr: Record<ParamGroup, number>): void {
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        let g = grads.get(name);
        if (!g) continue;
        const group = paramGroup(name);
        if (group === 'weights' && this.weightDecay > 0) g = tf.add(g, tf.mul(p, this.weightDecay));
        const v = this.velocity.get(name)!;
        const nv = tf.add(tf.mul(v, this.momentum), g);
        v.assign(nv);
        p.assign(tf.sub(p, tf.mul(tf.add(g, tf.mul(nv, this.momentum)), lr[group])));
      }
    });
  }
}

/** Scale the gradients in place so their global L2 norm is at most `maxNorm` (torch's clip_grad_norm_). */
export function clipGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]!);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, coef));
      g.dispose();
    }
  }
  return norm;
}

/** Exponential moving average of weights (and BN statistics) with YOLOv5's ramp: d = decay (1 - exp(-updates / tau)). */
export class Ema {
  updates = 0;
  constructor(readonly shadow: Map<string, tf.Variable>, readonly decay = 0.9999, readonly tau = 2000) {}

  update(source: Map<string, tf.Variable>): void {
    this.updates++;
    const d = this.decay * (1 - Math.exp(-this.updates / this.tau));
    tf.tidy(() => {
      for (const [name, s] of this.shadow) s.assign(tf.add(tf.mul(s, d), tf.mul(source.get(name)!, 1 - d)));
    });
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
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();
  t = 0;

  constructor(readonly params: Map<string, tf.Variable>, readonly beta1 = 0.937, readonly beta2 = 0.999, readonly weightDecay = 5e-4, readonly eps = 1e-8) {
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  step(grads: Map<string, tf.Tensor>, lr: Record<ParamGroup, number>): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t, c2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        if (!g) continue;
        const m = this.m.get(name)!, v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const group = paramGroup(name);
        let update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
        if (group === 'weights' && this.weightDecay > 0) update = tf.add(update, tf.mul(p, this.weightDecay));
        p.assign(tf.sub(p, tf.mul(update, lr[group])));
      }
    });
  }
}
