import { tf } from '../engine/backend.ts';
import { hwioToOihw, oihwToHwio } from '../model/layout.ts';
import type { TfModel } from '../model/tfjs.ts';

/**
 * A model's weights as plain arrays, kernels in the ONNX and PyTorch layout [out, in, kh, kw]:
 * what the training loop updates in place (optimiser, EMA, running statistics) and what the
 * onnx engine feeds as they are. tfjs models (HWIO kernels) meet them only at the edges: the
 * start of a run, validation and checkpoints once an epoch, and the tfjs engine's steps.
 */
export type PlainWeights = Map<string, Float32Array>;

/** The OIHW dims of a tfjs HWIO kernel shape. */
const oihwDims = ([kh, kw, i, o]: readonly number[]) => [o!, i!, kh!, kw!];

/** A tfjs tensor's values in the plain layout (a copy). */
export function toPlain(t: tf.Tensor): Float32Array {
  const data = t.dataSync() as Float32Array;
  return t.rank === 4 ? hwioToOihw(data, oihwDims(t.shape)) : Float32Array.from(data);
}

/** Plain values as a tfjs tensor of `shape` (tfjs' layout). */
export function fromPlain(data: Float32Array, shape: readonly number[]): tf.Tensor {
  return tf.tensor(shape.length === 4 ? oihwToHwio(data, oihwDims(shape)) : data, [...shape]);
}

/** Every weight of a model (running statistics included) as plain arrays. */
export function plainWeights(model: TfModel): PlainWeights {
  return new Map([...model.weights].map(([name, v]) => [name, toPlain(v)]));
}

/** The trainable ones of a model's plain weights (the same arrays, not copies): what the optimiser updates. */
export function trainableWeights(model: TfModel, weights: PlainWeights): PlainWeights {
  return new Map([...weights].filter(([name]) => model.weights.get(name)!.trainable));
}

/** Copy plain arrays into a model's variables (all of `weights`, or the names given). */
export function writePlainWeights(model: TfModel, weights: ReadonlyMap<string, Float32Array>, names: Iterable<string> = weights.keys()): void {
  for (const name of names) {
    const v = model.weights.get(name)!;
    const t = fromPlain(weights.get(name)!, v.shape);
    v.assign(t);
    t.dispose();
  }
}

/** Plain arrays as tfjs tensors shaped like the model's weights of the same names, under `prefix` (checkpoint extras). */
export function tensorsOf(model: TfModel, arrays: ReadonlyMap<string, Float32Array>, prefix: string): Map<string, tf.Tensor> {
  return new Map([...arrays].map(([name, data]) => [`${prefix}${name}`, fromPlain(data, model.weights.get(name)!.shape)]));
}
