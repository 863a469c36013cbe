import { samePads, convPads, type Graph, type Layer } from '../model/graph.ts';
import { BN_EPS } from '../model/tfjs.ts';
import { OnnxBuilder } from './builder.ts';

/**
 * ONNX graphs for training the layer graph with onnxruntime, at a fixed batch and image size:
 *
 * - `forward`: the training-mode forward pass (batch-norm with batch statistics). Inputs
 *   `images` [B,3,H,W] and every weight; outputs the raw heads and prototypes in NHWC (as the
 *   tfjs model gives them, so the tfjs loss reads them), each BN layer's batch mean and
 *   variance (for the running averages and the backward) and the outputs of the widest convolutions
 *   (`savedConvs`, for the backward).
 * - `backward`: the forward pass once more, with those saved outputs as inputs in place of
 *   their Conv nodes (the other convolutions and the per-element work are cheaper to redo than
 *   to carry out of onnxruntime and back), followed by reverse-mode rules, one per primitive.
 *   Inputs: images, weights, the saved convolutions, the forward's BN batch statistics and the
 *   loss gradient of each output (`grad.p3` ... `grad.proto`, NHWC). Outputs: the gradient of every weight (`grad.<weight>`).
 *
 * Weights are graph inputs in ONNX layout (conv kernels [out, in, kh, kw]); the optimiser
 * stays outside onnxruntime (train/optim.ts). Convolutions pad as the graph says (`symmetric` or `same`, model/graph.ts); max-pools are SAME. The rules (found by
 * measuring on onnxruntime, see issue 8): conv input gradient as a Conv with the flipped,
 * transposed kernel (stride 1) or a ConvTranspose (stride 2); conv weight gradient as im2col
 * (a grouped one-hot Conv) + batched MatMul + ReduceSum; BN+SiLU backward per channel;
 * max-pool backward by MaxPool's indices and ScatterElements(add); nearest-upsample backward by
 * Reshape + ReduceSum; concat backward by Split.
 */
export interface TrainGraphShape {
  batch: number;
  height: number;
  width: number;
}

/** A weight's name and ONNX shape, in graph order (the order of `TfModel.trainable`). */
export interface WeightSpec {
  name: string;
  dims: number[];
}

export const OUTPUT_NAMES = ['p3', 'p4', 'p5', 'proto'] as const;

export function weightSpecs(graph: Graph): WeightSpec[] {
  const out: WeightSpec[] = [];
  for (const l of graph.layers) {
    if (l.op !== 'conv') continue;
    const c1 = graph.layers[l.from]!.channels;
    out.push({ name: `${l.name}.w`, dims: [l.channels, c1, l.k, l.k] });
    if (l.bn) out.push({ name: `${l.name}.gamma`, dims: [l.channels] }, { name: `${l.name}.beta`, dims: [l.channels] });
    else out.push({ name: `${l.name}.bias`, dims: [l.channels] });
  }
  return out;
}

/**
 * A convolution is saved by the forward model when it costs at least this many multiply-adds
 * per output value (input channels x k x k); cheaper ones are recomputed in the backward model.
 * Carrying an output out of onnxruntime and back costs about what recomputing a convolution of
 * a few hundred multiply-adds per value does. Measured with bench:saved-convs (full model,
 * batch 4, engines interleaved; an identical engine measured 0.94x-1.03x of itself): saving
 * from 512 up against from 2,048 up, 0.90x, 0.91x and 0.93x at 256 px (1,643 / 1,608 against
 * 1,835 / 1,728 ms), and at 640 px, in alternating processes, 8,332 / 9,187 against 9,255 /
 * 10,001 ms (0.90x, 0.92x) for 90 MB more peak RSS (10.76 GB against 10.67); saving every
 * convolution, the 1x1s of 16-64 input channels included, made w0.125 at 640 px 1.14x slower.
 * The full width saves 77 convolutions at this threshold (133 MiB at 256 px, 832 at 640); tiny
 * and w0.125 only five. `VASCSEG_SAVE_CONV_MACS` overrides it (Infinity: none).
 */
export const SAVE_CONV_MACS = Number(process.env.VASCSEG_SAVE_CONV_MACS ?? 512);

/** The convolution outputs (NCHW) the forward model saves and the backward model takes. */
export function savedConvs(graph: Graph, shape: TrainGraphShape, saveMacs = SAVE_CONV_MACS): { name: string; dims: number[] }[] {
  const saves = (l: Extract<Layer, { op: 'conv' }>) => graph.layers[l.from]!.channels * l.k * l.k >= saveMacs;
  return graph.layers.filter((l) => l.op === 'conv').filter(saves).map((l) => ({
    name: `${l.name}.conv`, dims: [shape.batch, l.channels, shape.height / l.stride, shape.width / l.stride],
  }));
}

/** The BN batch statistics the forward model returns and the backward model takes ([C] each). */
export function bnStatNames(graph: Graph): string[] {
  return graph.layers.filter((l) => l.op === 'conv' && l.bn).flatMap((l) => [`${l.name}.mean`, `${l.name}.var`]);
}

/** A convolution's shape, as its weight-gradient rule needs it (`hw`: output pixels per image). */
export interface ConvShape {
  name: string; batch: number; c1: number; co: number; k: number; s: number; pads: [number, number, number, number]; hw: number;
}

/**
 * Whether a weight gradient contracts batch and pixels in one GEMM (`dy` as [CO, N hw] times the
 * patches as [N hw, K], after transposing both) rather than one GEMM per image summed over the
 * batch. Per image, a map of few pixels is a short contraction making a wide weight-sized
 * partial per image. Measured with bench:weight-grad (batch 4, 2 threads, folded against per
 * image): maps of 8x8 0.50x-0.79x (four shapes), 16x16 0.58x-1.03x (five runs of three shapes),
 * 20x20 1.07x and 1.46x, 32x32 and larger 1.14x-1.49x (one stride-2 layer 0.98x); the maps
 * of 20x20 and less there had weights of 295K-4.7M values. So maps of at most 256 pixels fold
 * (at 256 px the strides 16 and 32, at 640 px none), and only weights of at least 2^18 values:
 * the tiny model's (2-74K) gain nothing from it (its demo epochs measured 0.86x-0.98x the img/s
 * folded) and keep the per-image form. `VASCSEG_FOLD_MAX_PIXELS` (0: none fold) and
 * `VASCSEG_FOLD_MIN_WEIGHTS` override them.
 */
const FOLD_MAX_PIXELS = Number(process.env.VASCSEG_FOLD_MAX_PIXELS ?? 256);
const FOLD_MIN_WEIGHTS = Number(process.env.VASCSEG_FOLD_MIN_WEIGHTS ?? 2 ** 18);
export function foldsBatch(c: ConvShape): boolean {
  return c.batch > 1 && c.hw <= FOLD_MAX_PIXELS && c.co * c.c1 * c.k * c.k >= FOLD_MIN_WEIGHTS;
}

/**
 * The weight gradient of a convolution of input `x` [N, C1, H, W] given its output gradient `dy`
 * [N, CO, h, w]: patches of the input (im2col as a grouped one-hot conv; a 1x1 stride-1 conv's
 * input is its own patches), then GEMMs over the pixels and the batch (`foldsBatch` picks the
 * form; `fold` forces one). Returns dW [CO, C1, k, k]. `int64` makes an int64 constant (the
 * caller's, so constants can be shared).
 */
export function im2colWeightGrad(b: OnnxBuilder, int64: (values: number[]) => string, x: string, dy: string, c: ConvShape, fold = foldsBatch(c)): string {
  const kk = c.k * c.k;
  let patches: string;
  if (c.k === 1 && c.s === 1) {
    patches = b.op('Reshape', [x, int64([c.batch, c.c1, c.hw])]);
  } else {
    const onehot = new Float32Array(c.c1 * kk * kk);
    for (let ch = 0; ch < c.c1; ch++) for (let u = 0; u < kk; u++) onehot[(ch * kk + u) * kk + u] = 1;
    const kernel = b.float(`${c.name}.im2col`, onehot, [c.c1 * kk, 1, c.k, c.k]);
    const cols = b.op('Conv', [x, kernel], { group: c.c1, kernel_shape: [c.k, c.k], strides: [c.s, c.s], pads: c.pads }, `${c.name}.im2col`);
    patches = b.op('Reshape', [cols, int64([c.batch, c.c1 * kk, c.hw])]);
  }
  const dyFlat = b.op('Reshape', [dy, int64([c.batch, c.co, c.hw])]);
  const dwShape = int64([c.co, c.c1, c.k, c.k]);
  if (fold) {
    const dyRows = b.op('Reshape', [b.op('Transpose', [dyFlat], { perm: [1, 0, 2] }), int64([c.co, c.batch * c.hw])]);
    const patchRows = b.op('Reshape', [b.op('Transpose', [patches], { perm: [0, 2, 1] }), int64([c.batch * c.hw, c.c1 * kk])]);
    return b.op('Reshape', [b.op('MatMul', [dyRows, patchRows]), dwShape], {}, `${c.name}.dw`);
  }
  const perImage = b.op('MatMul', [dyFlat, b.op('Transpose', [patches], { perm: [0, 2, 1] })]);
  return b.op('Reshape', [b.op('ReduceSum', [perImage, int64([0])], { keepdims: 0 }), dwShape], {}, `${c.name}.dw`);
}

/**
 * Every k x k kernel of `weight` [co, c1, k, k] turned by 180 degrees: its k k values in
 * reverse order, as a product with the reversing permutation (exact: each output is one value
 * times 1 plus zeros; a 1-epoch tiny run's weights are byte for byte those of the Slice). The
 * Slice with negative steps it replaces took 56 ms of the full model's backward graph at 256
 * px (bench:profile); `npm run bench:flip`, the full model's 41 3x3 kernels with the transpose:
 * 0.54x-0.60x the time over five runs, the same bits.
 */
export function flipKernels(b: OnnxBuilder, int64: (values: number[]) => string, weight: string, co: number, c1: number, k: number, reverse = reversal(b, k)): string {
  const rows = b.op('Reshape', [weight, int64([co * c1, k * k])]);
  return b.op('Reshape', [b.op('MatMul', [rows, reverse]), int64([co, c1, k, k])]);
}

/** The k k x k k permutation matrix that reverses a row of k k values (`flipKernels`' constant, shareable among its calls). */
export function reversal(b: OnnxBuilder, k: number): string {
  const kk = k * k;
  const m = new Float32Array(kk * kk);
  for (let i = 0; i < kk; i++) m[i * kk + (kk - 1 - i)] = 1;
  return b.float(`flip${k}`, m, [kk, kk]);
}

/**
 * One convolution's weight gradient as a model of its own (inputs `x` [N, C1, H, H] and `dy`
 * [N, CO, h, h], output `dw`), in the form `fold` picks: what bench:weight-grad times and the
 * tests check against the definition. `c.hw` must be h * h.
 */
export function weightGradModel(c: ConvShape, inputSide: number, fold = foldsBatch(c)): Uint8Array {
  const b = new OnnxBuilder();
  const side = Math.floor((inputSide + c.pads[0] + c.pads[2] - c.k) / c.s) + 1;
  if (side * side !== c.hw) throw new Error(`${c.name}: ${inputSide} px in gives ${side}x${side} out, not ${c.hw} pixels`);
  const x = b.input('x', [c.batch, c.c1, inputSide, inputSide]), dy = b.input('dy', [c.batch, c.co, side, side]);
  b.node('Identity', [im2colWeightGrad(b, (v) => b.int64('c', v), x, dy, c, fold)], {}, ['dw']);
  b.output('dw', [c.co, c.c1, c.k, c.k]);
  return b.encode('weight-grad');
}

interface Saved {
  /**
   * Per conv layer: its input and conv output; for BN the centred values d = x - mean, rstd and
   * gamma rstd; for SiLU its input z, sigmoid(z) and output.
   */
  x: string; conv: string; d?: string; rstd?: string; scale?: string; z?: string; sig?: string; out?: string;
}

class TrainGraphBuilder {
  readonly b = new OnnxBuilder();
  private readonly sizes: { h: number; w: number }[];
  readonly values: string[] = [];
  readonly saved = new Map<number, Saved>();
  readonly pools = new Map<number, string>();
  readonly bnStats: { name: string; mean: string; variance: string }[] = [];
  private readonly consts = new Map<string, string>();

  constructor(readonly graph: Graph, readonly shape: TrainGraphShape, readonly saveMacs = SAVE_CONV_MACS) {
    this.sizes = graph.layers.map((l) => ({ h: shape.height / l.stride, w: shape.width / l.stride }));
  }

  /** The graph's constant under `key`, made by `make` the first time it is asked for. */
  private cached(key: string, make: () => string): string {
    let v = this.consts.get(key);
    if (!v) { v = make(); this.consts.set(key, v); }
    return v;
  }

  private int64(values: number[]): string {
    return this.cached(`i64:${values.join(',')}`, () => this.b.int64('c', values));
  }

  private scalar(value: number): string {
    return this.cached(`f:${value}`, () => this.b.float('c', [value], []));
  }

  /** `reversal(k)`, made once per graph. */
  private reversal(k: number): string {
    return this.cached(`flip:${k}`, () => reversal(this.b, k));
  }

  /** [C] -> [1, C, 1, 1] for broadcasting over NCHW. */
  private perChannel(v: string): string {
    return this.b.op('Reshape', [v, this.int64([1, -1, 1, 1])]);
  }

  /**
   * The forward pass. With `convs: 'inputs'` the output of every convolution that `savedConvs`
   * names is a graph input (`<layer>.conv`, NCHW) instead of a Conv node: the backward graph then
   * recomputes only the cheap convolutions and the per-element and per-channel work around them.
   */
  forward(convs: 'compute' | 'inputs' = 'compute'): void {
    const { b, graph } = this;
    const inputConvs = new Set(convs === 'inputs' ? savedConvs(graph, this.shape, this.saveMacs).map((c) => c.name) : []);
    for (const l of graph.layers) {
      switch (l.op) {
        case 'input': this.values.push(b.input('images', [this.shape.batch, 3, this.shape.height, this.shape.width])); break;
        case 'conv': {
          const src = this.sizes[l.from]!;
          const c1 = graph.layers[l.from]!.channels;
          const weight = b.input(`${l.name}.w`, [l.channels, c1, l.k, l.k]);
          const [pt, pl, pb, pr] = convPads(graph.padding, l.k, l.s, src.h, src.w);
          const inputs = [this.values[l.from]!, weight];
          if (!l.bn) inputs.push(b.input(`${l.name}.bias`, [l.channels]));
          const dst = this.sizes[l.id]!;
          const conv = inputConvs.has(`${l.name}.conv`)
            ? b.input(`${l.name}.conv`, [this.shape.batch, l.channels, dst.h, dst.w])
            : b.node('Conv', inputs, { kernel_shape: [l.k, l.k], strides: [l.s, l.s], pads: [pt, pl, pb, pr] }, [`${l.name}.conv`])[0]!;
          if (conv !== `${l.name}.conv`) throw new Error(`${l.name}: the conv output's name is taken`); // savedConvs relies on it
          const saved: Saved = { x: this.values[l.from]!, conv };
          let z = conv;
          if (l.bn) {
            // Per element only d = x - mean, its sum of squares (forward only) and z = d (gamma rstd)
            // + beta: the rest is per channel (these graphs are mostly memory passes, so each one
            // counts). The backward model takes the forward's batch statistics (`<layer>.mean`,
            // `.var`): the same values, as its convolutions give the forward's bits.
            const gamma = b.input(`${l.name}.gamma`, [l.channels]), beta = b.input(`${l.name}.beta`, [l.channels]);
            const fed = (stat: string) => this.perChannel(b.input(`${l.name}.${stat}`, [l.channels]));
            const mean = convs === 'inputs' ? fed('mean') : b.op('ReduceMean', [conv], { axes: [0, 2, 3], keepdims: 1 }, `${l.name}.bmean`);
            const d = b.op('Sub', [conv, mean]);
            const count = this.shape.batch * dst.h * dst.w;
            const sumOfSquares = () => b.op('ReduceSumSquare', [d], { axes: [0, 2, 3], keepdims: 1 });
            const variance = convs === 'inputs' ? fed('var') : b.op('Div', [sumOfSquares(), this.scalar(count)], {}, `${l.name}.bvar`);
            const rstd = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, this.scalar(BN_EPS)])])]);
            const scale = b.op('Mul', [this.perChannel(gamma), rstd]);
            z = b.op('Add', [b.op('Mul', [d, scale]), this.perChannel(beta)]);
            Object.assign(saved, { d, rstd, scale });
            this.bnStats.push({ name: l.name, mean, variance });
          }
          if (l.act === 'silu') {
            const sig = b.op('Sigmoid', [z]);
            const out = b.op('Mul', [z, sig], {}, `${l.name}.out`);
            Object.assign(saved, { z, sig, out });
            this.values.push(out);
          } else {
            this.values.push(z);
          }
          this.saved.set(l.id, saved);
          break;
        }
        case 'maxpool': {
          const src = this.sizes[l.from]!;
          const [pt, pb] = samePads(src.h, l.k, l.s), [pl, pr] = samePads(src.w, l.k, l.s);
          const [y, idx] = b.node('MaxPool', [this.values[l.from]!], { kernel_shape: [l.k, l.k], strides: [l.s, l.s], pads: [pt, pl, pb, pr] }, 2, l.name);
          this.values.push(y!);
          this.pools.set(l.id, idx!);
          break;
        }
        case 'upsample':
          this.values.push(b.op('Resize', [this.values[l.from]!, '', b.float(`${l.name}.scales`, [1, 1, l.scale, l.scale], [4])], {
            mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
          }, l.name));
          break;
        case 'concat':
          this.values.push(b.op('Concat', l.from.map((f) => this.values[f]!), { axis: 1 }, l.name));
          break;
      }
    }
  }

  /** Output tensors (heads then proto) as NHWC, and their dims. */
  outputs(): { name: string; value: string; dims: number[] }[] {
    const ids = [...this.graph.heads, this.graph.proto];
    return ids.map((id, k) => {
      const { h, w } = this.sizes[id]!;
      return { name: OUTPUT_NAMES[k]!, value: this.values[id]!, dims: [this.shape.batch, h, w, this.graph.layers[id]!.channels] };
    });
  }

  backward(): Map<string, string> {
    const { b, graph } = this;
    const grads = new Map<number, string[]>();
    const addGrad = (id: number, g: string) => { const list = grads.get(id) ?? []; list.push(g); grads.set(id, list); };
    for (const o of this.outputs()) {
      const id = [...graph.heads, graph.proto][OUTPUT_NAMES.indexOf(o.name as (typeof OUTPUT_NAMES)[number])]!;
      const g = b.input(`grad.${o.name}`, o.dims);
      addGrad(id, b.op('Transpose', [g], { perm: [0, 3, 1, 2] }));
    }
    const weightGrads = new Map<string, string>();
    for (let id = graph.layers.length - 1; id > 0; id--) {
      const l = graph.layers[id]!;
      const list = grads.get(id);
      if (!list) continue;
      const g = list.length === 1 ? list[0]! : b.op('Sum', list, {}, `${l.name}.gsum`);
      switch (l.op) {
        case 'conv': this.convBackward(l, g, weightGrads, addGrad); break;
        case 'maxpool': {
          const src = this.sizes[l.from]!;
          const n = this.shape.batch * l.channels * src.h * src.w;
          const zeros = b.op('Expand', [this.scalar(0), this.int64([n])]);
          const flat = b.op('ScatterElements', [zeros, b.op('Reshape', [this.pools.get(id)!, this.int64([-1])]), b.op('Reshape', [g, this.int64([-1])])], { axis: 0, reduction: 'add' });
          addGrad(l.from, b.op('Reshape', [flat, this.int64([this.shape.batch, l.channels, src.h, src.w])], {}, `${l.name}.dx`));
          break;
        }
        case 'upsample': {
          const src = this.sizes[l.from]!;
          const r = b.op('Reshape', [g, this.int64([this.shape.batch, l.channels, src.h, l.scale, src.w, l.scale])]);
          addGrad(l.from, b.op('ReduceSum', [r, this.int64([3, 5])], { keepdims: 0 }, `${l.name}.dx`));
          break;
        }
        case 'concat': {
          const parts = b.node('Split', [g, this.int64(l.from.map((f) => graph.layers[f]!.channels))], { axis: 1 }, l.from.length, `${l.name}.dx`);
          l.from.forEach((f, k) => addGrad(f, parts[k]!));
          break;
        }
        case 'input': break;
      }
    }
    return weightGrads;
  }

  private convBackward(l: Extract<Layer, { op: 'conv' }>, g: string, weightGrads: Map<string, string>, addGrad: (id: number, g: string) => void): void {
    const { b } = this;
    const s = this.saved.get(l.id)!;
    const src = this.sizes[l.from]!, dst = this.sizes[l.id]!;
    const c1 = this.graph.layers[l.from]!.channels;
    // Through the activation: SiLU'(z) = s (1 + z (1 - s)) = s (1 + z - out), so
    // dz = (g s) (z + 1 - out): four passes over the layer.
    let dz = g;
    if (l.act === 'silu') {
      dz = b.op('Mul', [b.op('Mul', [g, s.sig!]), b.op('Sub', [b.op('Add', [s.z!, this.scalar(1)]), s.out!])]);
    }
    let dy = dz;
    if (l.bn) {
      // With xhat = d rstd: dgamma = rstd sum(dz d), dbeta = sum(dz), and
      // dy = gamma rstd (dz - (dbeta + xhat dgamma) / M) = (dz + d k) scale - dbeta scale / M,
      // k = -rstd dgamma / M per channel.
      const perChannelSum = (v: string, hint: string) => b.op('ReduceSum', [v, this.int64([0, 2, 3])], { keepdims: 1 }, hint);
      const sumDzD = perChannelSum(b.op('Mul', [dz, s.d!]), `${l.name}.sdzd`);
      const dbeta = perChannelSum(dz, `${l.name}.dbeta`);
      const dgamma = b.op('Mul', [sumDzD, s.rstd!]);
      weightGrads.set(`${l.name}.gamma`, b.op('Reshape', [dgamma, this.int64([-1])], {}, `${l.name}.dgamma`));
      weightGrads.set(`${l.name}.beta`, b.op('Reshape', [dbeta, this.int64([-1])], {}, `${l.name}.dbeta`));
      const m = this.scalar(-1 / (this.shape.batch * dst.h * dst.w));
      const k = b.op('Mul', [dgamma, b.op('Mul', [s.rstd!, m])]);
      const shift = b.op('Mul', [b.op('Mul', [dbeta, s.scale!]), m]);
      dy = b.op('Add', [b.op('Mul', [b.op('Add', [dz, b.op('Mul', [s.d!, k])]), s.scale!]), shift]);
    } else {
      weightGrads.set(`${l.name}.bias`, b.op('ReduceSum', [dz, this.int64([0, 2, 3])], { keepdims: 0 }, `${l.name}.dbias`));
    }
    const [pt, pl, pb, pr] = convPads(this.graph.padding, l.k, l.s, src.h, src.w);
    const dw = im2colWeightGrad(b, (v) => this.int64(v), s.x, dy, {
      name: l.name, batch: this.shape.batch, c1, co: l.channels, k: l.k, s: l.s, pads: [pt, pl, pb, pr], hw: dst.h * dst.w,
    });
    weightGrads.set(`${l.name}.w`, dw);
    // Input gradient (not for the image).
    if (l.from === 0) return;
    const weight = `${l.name}.w`;
    let dx: string;
    if (l.s === 1) {
      if (l.k % 2 === 0) throw new Error(`${l.name}: even kernels with stride 1 have no training rule`);
      // A stride-1 conv's input gradient is a conv with the kernel transposed (in <-> out) and flipped.
      const flipped = b.op('Transpose', [l.k === 1 ? weight : flipKernels(b, (v) => this.int64(v), weight, l.channels, c1, l.k, this.reversal(l.k))], { perm: [1, 0, 2, 3] });
      const p = (l.k - 1) / 2;
      dx = b.op('Conv', [dy, flipped], { kernel_shape: [l.k, l.k], pads: [p, p, p, p] }, `${l.name}.dx`);
    } else {
      const outH = l.s * (dst.h - 1) + l.k - pt - pb, outW = l.s * (dst.w - 1) + l.k - pl - pr;
      dx = b.op('ConvTranspose', [dy, weight], {
        kernel_shape: [l.k, l.k], strides: [l.s, l.s], pads: [pt, pl, pb, pr], output_padding: [src.h - outH, src.w - outW],
      }, `${l.name}.dx`);
    }
    addGrad(l.from, dx);
  }
}

/**
 * The training-mode forward model: outputs NHWC heads/proto, BN batch statistics (`<layer>.mean`,
 * `<layer>.var`, [C]) and the outputs of the convolutions `savedConvs` names (`<layer>.conv`,
 * NCHW) for the backward model.
 */
export function forwardTrainingModel(graph: Graph, shape: TrainGraphShape, saveMacs = SAVE_CONV_MACS): Uint8Array {
  const t = new TrainGraphBuilder(graph, shape, saveMacs);
  t.forward();
  for (const o of t.outputs()) {
    t.b.node('Transpose', [o.value], { perm: [0, 2, 3, 1] }, [o.name]);
    t.b.output(o.name, o.dims);
  }
  for (const s of t.bnStats) {
    const c = graph.layers.find((l) => l.name === s.name)!.channels;
    t.b.node('Reshape', [s.mean, t.b.int64('c', [-1])], {}, [`${s.name}.mean`]);
    t.b.output(`${s.name}.mean`, [c]);
    t.b.node('Reshape', [s.variance, t.b.int64('c', [-1])], {}, [`${s.name}.var`]);
    t.b.output(`${s.name}.var`, [c]);
  }
  for (const c of savedConvs(graph, shape, saveMacs)) t.b.output(c.name, c.dims);
  return t.b.encode('vascseg_train_forward');
}

/**
 * The gradient model: the forward pass again around the forward model's saved convolution
 * outputs (inputs `<layer>.conv`: those convolutions are not run again, the others are), then
 * backward from the output gradients to every weight.
 */
export function backwardModel(graph: Graph, shape: TrainGraphShape, saveMacs = SAVE_CONV_MACS): Uint8Array {
  const t = new TrainGraphBuilder(graph, shape, saveMacs);
  t.forward('inputs');
  const grads = t.backward();
  for (const w of weightSpecs(graph)) {
    const g = grads.get(w.name);
    if (!g) throw new Error(`no gradient reaches ${w.name}`);
    t.b.node('Identity', [g], {}, [`grad.${w.name}`]);
    t.b.output(`grad.${w.name}`, w.dims);
  }
  return t.b.encode('vascseg_train_backward');
}
