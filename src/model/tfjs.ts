import { tf } from '../engine/backend.ts';
import { bnSilu } from '../engine/ops.ts';
import { mulberry32 } from '../util/stats.ts';
import { convPads, type Graph, type Layer } from './graph.ts';
import { outputsPerAnchor, type ModelConfig } from './yolov7seg.ts';

/** BatchNorm as in YOLO: eps 1e-3, running averages with momentum 0.03. */
export const BN_EPS = 1e-3;
export const BN_MOMENTUM = 0.03;

/** One BN layer's statistics over a training batch (the biased variance). */
export interface BatchStats {
  name: string;
  mean: Float32Array;
  variance: Float32Array;
}

/**
 * Fold batch statistics into the running averages in `running` (keys `<layer>.mean`,
 * `<layer>.var`), as the `updates`-th update. The first updates average cumulatively
 * (momentum 1/t) before settling at 0.03: with YOLO's fixed momentum the initial (0, 1)
 * statistics linger for ~100 steps, which ruins inference after a short CPU run (a running
 * variance of 1 against a real 0.03). PyTorch keeps the unbiased variance, a factor M/(M-1)
 * with M the pixels per channel in the batch: negligible at image sizes.
 */
export function foldBatchStats(running: ReadonlyMap<string, Float32Array>, stats: readonly BatchStats[], updates: number): void {
  const momentum = Math.max(BN_MOMENTUM, 1 / updates);
  for (const { name, mean, variance } of stats) {
    const rm = running.get(`${name}.mean`)!, rv = running.get(`${name}.var`)!;
    for (let c = 0; c < rm.length; c++) {
      rm[c] = rm[c]! * (1 - momentum) + mean[c]! * momentum;
      rv[c] = rv[c]! * (1 - momentum) + variance[c]! * momentum;
    }
  }
}

export interface ModelOutputs {
  /** Raw head outputs of P3, P4, P5: [N, H, W, anchors * (5 + classes + masks)]. */
  heads: tf.Tensor4D[];
  /** Prototypes: [N, H/4, W/4, masks]. */
  proto: tf.Tensor4D;
}

let instances = 0;

/**
 * The model's input from 512x512 tiles (RGB scaled to 0..1, NHWC): resized to `imgsz`
 * bilinearly with half-pixel centres (the seed upscales 512 to 640).
 */
export function modelInput(pixels: Float32Array, count: number, imgsz: number, tileSize = 512): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf.tensor4d(pixels, [count, tileSize, tileSize, 3]);
    return imgsz === tileSize ? x : tf.image.resizeBilinear(x, [imgsz, imgsz], false, true);
  });
}

/**
 * The tfjs interpreter of a model graph: variables named after the graph's layers, a
 * training forward pass (batch statistics, fused BN+SiLU) and an inference pass (running
 * statistics).
 */
export class TfModel {
  readonly weights = new Map<string, tf.Variable>();
  /** Batch statistics of the last training pass, for the running averages. */
  private batchStats: { name: string; mean: tf.Tensor1D; variance: tf.Tensor1D }[] = [];
  /** Running-statistics updates so far (saved with checkpoints for an exact resume). */
  bnUpdates = 0;

  private readonly instance = ++instances;

  constructor(readonly graph: Graph, readonly config: ModelConfig, seed = 0) {
    const random = mulberry32(seed);
    for (const l of graph.layers) {
      if (l.op !== 'conv') continue;
      const c1 = graph.layers[l.from]!.channels;
      const fanIn = c1 * l.k * l.k;
      // PyTorch's default conv init: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
      const bound = 1 / Math.sqrt(fanIn);
      const w = new Float32Array(fanIn * l.channels).map(() => (random() * 2 - 1) * bound);
      this.add(`${l.name}.w`, tf.tensor4d(w, [l.k, l.k, c1, l.channels]), true);
      if (l.bn) {
        this.add(`${l.name}.gamma`, tf.ones([l.channels]), true);
        this.add(`${l.name}.beta`, tf.zeros([l.channels]), true);
        this.add(`${l.name}.mean`, tf.zeros([l.channels]), false);
        this.add(`${l.name}.var`, tf.ones([l.channels]), false);
      } else {
        this.add(`${l.name}.bias`, tf.tensor1d(this.initialBias(l)), true);
      }
    }
  }

  /**
   * Detection biases start where YOLOv5 starts them: objectness for ~8 objects per 640 px
   * image, class scores at 0.6 / (classes - 0.99), so early training is not swamped.
   */
  private initialBias(l: Layer): Float32Array {
    const bias = new Float32Array(l.channels);
    const level = this.graph.heads.indexOf(l.id);
    if (level < 0) return bias;
    const per = outputsPerAnchor(this.config);
    const nc = this.config.classes.length;
    for (let a = 0; a < this.config.anchors[level]!.length; a++) {
      bias[a * per + 4] = Math.log(8 / (640 / l.stride) ** 2);
      for (let c = 0; c < nc; c++) bias[a * per + 5 + c] = Math.log(0.6 / (nc - 0.99));
    }
    return bias;
  }

  private add(name: string, value: tf.Tensor, trainable: boolean): void {
    // tfjs variable names are global: prefix them per model so several models can coexist
    // (fold ensembles); `weights` keys stay the plain layer names.
    this.weights.set(name, tf.variable(value, trainable, `m${this.instance}/${name}`));
    value.dispose();
  }

  /** Trainable variables, in graph order. */
  get trainable(): tf.Variable[] {
    return [...this.weights.values()].filter((v) => v.trainable);
  }

  private w<R extends tf.Rank>(name: string): tf.Tensor<R> {
    const v = this.weights.get(name);
    if (!v) throw new Error(`model has no weight ${name}`);
    return v as unknown as tf.Tensor<R>;
  }

  /** Run the graph on [N, H, W, 3] images scaled to 0..1. H and W must be multiples of 32. */
  forward(images: tf.Tensor4D, training: boolean): ModelOutputs {
    const [, h, w] = images.shape;
    if (h % 32 !== 0 || w % 32 !== 0) throw new Error(`input ${w}x${h}: sides must be multiples of 32`);
    const out: tf.Tensor4D[] = [];
    if (training) this.batchStats = [];
    for (const l of this.graph.layers) {
      switch (l.op) {
        case 'input': out.push(images); break;
        case 'conv': {
          const src = out[l.from]!;
          const [pt, pl, pb, pr] = convPads(this.graph.padding, l.k, l.s, src.shape[1], src.shape[2]);
          const x = tf.conv2d(src, this.w<tf.Rank.R4>(`${l.name}.w`), l.s, [[0, 0], [pt, pb], [pl, pr], [0, 0]]);
          if (!l.bn) {
            const z = tf.add(x, this.w(`${l.name}.bias`));
            out.push((l.act === 'silu' ? tf.mul(z, tf.sigmoid(z)) : z) as tf.Tensor4D);
          } else if (training) {
            const r = bnSilu(x, this.w(`${l.name}.gamma`), this.w(`${l.name}.beta`), BN_EPS);
            this.batchStats.push({ name: l.name, mean: r.mean, variance: r.variance });
            out.push(r.y);
          } else {
            const scale = tf.mul(this.w(`${l.name}.gamma`), tf.rsqrt(tf.add(this.w(`${l.name}.var`), BN_EPS)));
            const z = tf.add(tf.mul(tf.sub(x, this.w(`${l.name}.mean`)), scale), this.w(`${l.name}.beta`));
            out.push(tf.mul(z, tf.sigmoid(z)));
          }
          break;
        }
        case 'maxpool': out.push(tf.maxPool(out[l.from]!, l.k, l.s, 'same')); break;
        case 'upsample': {
          const x = out[l.from]!;
          out.push(tf.image.resizeNearestNeighbor(x, [x.shape[1] * l.scale, x.shape[2] * l.scale]));
          break;
        }
        case 'concat': out.push(tf.concat(l.from.map((f) => out[f]!), 3)); break;
      }
    }
    return { heads: this.graph.heads.map((h) => out[h]!), proto: out[this.graph.proto]! };
  }

  /** Inference pass with every intermediate tensor freed: only the outputs stay alive. */
  predict(images: tf.Tensor4D): ModelOutputs {
    const all = tf.tidy(() => {
      const o = this.forward(images, false);
      return [...o.heads, o.proto];
    });
    return { heads: all.slice(0, -1) as tf.Tensor4D[], proto: all[all.length - 1] as tf.Tensor4D };
  }

  /** The last training pass's batch statistics as plain arrays, handed over (the model keeps none). */
  takeBatchStats(): BatchStats[] {
    const stats = this.batchStats.map(({ name, mean, variance }) => ({ name, mean: mean.dataSync() as Float32Array, variance: variance.dataSync() as Float32Array }));
    for (const s of this.batchStats) tf.dispose([s.mean, s.variance]);
    this.batchStats = [];
    return stats;
  }

  /** Fold the last training pass's batch statistics into the running averages (`foldBatchStats`). */
  updateRunningStats(): void {
    const stats = this.takeBatchStats();
    const running = new Map<string, Float32Array>();
    for (const { name } of stats) for (const key of [`${name}.mean`, `${name}.var`]) running.set(key, Float32Array.from(this.w(key).dataSync()));
    foldBatchStats(running, stats, ++this.bnUpdates);
    for (const [key, data] of running) this.weights.get(key)!.assign(tf.tensor1d(data));
  }

  /** Forget the running statistics' history: the next update replaces them (then averages cumulatively). */
  resetRunningStats(): void {
    this.bnUpdates = 0;
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
  }
}

/** Plain weights of a tfjs model (for exporting). */
export function weightArrays(model: TfModel): Map<string, Float32Array> {
  return new Map([...model.weights].map(([name, v]) => [name, v.dataSync() as Float32Array]));
}

/** Set weights from plain arrays (imports); every name must be one of the model's, with its size. */
export function assignWeights(model: TfModel, weights: ReadonlyMap<string, Float32Array>): void {
  for (const [name, data] of weights) {
    const v = model.weights.get(name);
    if (!v) throw new Error(`weight ${name} is not in this model`);
    if (v.size !== data.length) throw new Error(`weight ${name} has ${data.length} values, the model needs ${v.shape.join('x')}`);
    v.assign(tf.tensor(data, v.shape));
  }
}
