/**
 * The network as data: a list of layers, each reading earlier layers by index. Interpreters
 * (tfjs now; ONNX later) walk this list; nothing outside `model/` knows how a block is built.
 * Shapes are NHWC; every layer records its output channels and stride (input pixels per
 * output pixel) so interpreters and exporters can check themselves.
 */
export type Activation = 'silu' | 'none';

export type LayerOp =
  | { op: 'input' }
  /** Convolution; `bn` means BatchNorm (no bias) before the activation, else a bias. */
  | { op: 'conv'; from: number; k: number; s: number; act: Activation; bn: boolean }
  | { op: 'maxpool'; from: number; k: number; s: number }
  | { op: 'upsample'; from: number; scale: number }
  | { op: 'concat'; from: number[] };

export type Layer = LayerOp & {
  id: number;
  /** Dotted name of the block the layer belongs to, e.g. `backbone.elan2.cv3`: weight names derive from it. */
  name: string;
  channels: number;
  stride: number;
};

/**
 * How a convolution pads: `symmetric` is PyTorch's `autopad` (k // 2 on every side), what the
 * official YOLOv7-seg computes and every new model uses; `same` is TensorFlow's SAME (the odd
 * pixel of a stride-2 window goes bottom/right), what checkpoints before the field trained
 * with. They differ only for stride-2 convolutions, where `same` samples a window shifted by
 * one pixel; output sizes are equal.
 */
export type Padding = 'same' | 'symmetric';

export interface Graph {
  layers: Layer[];
  padding: Padding;
  /** Raw head outputs of P3, P4, P5: [N, H, W, anchors * (5 + classes + masks)]. */
  heads: number[];
  /** Prototype masks at stride 4: [N, H/4, W/4, masks]. */
  proto: number;
}

/** Builds a graph layer by layer; block functions call it and return the id of their last layer. */
export class GraphBuilder {
  readonly layers: Layer[] = [];

  constructor(inputChannels = 3) {
    this.layers.push({ op: 'input', id: 0, name: 'input', channels: inputChannels, stride: 1 });
  }

  private add(op: LayerOp, name: string, channels: number, stride: number): number {
    const id = this.layers.length;
    this.layers.push({ ...op, id, name, channels, stride } as Layer);
    return id;
  }

  channels(id: number): number {
    return this.layers[id]!.channels;
  }

  conv(from: number, c2: number, k: number, s: number, name: string, act: Activation = 'silu', bn = true): number {
    return this.add({ op: 'conv', from, k, s, act, bn }, name, c2, this.layers[from]!.stride * s);
  }

  maxpool(from: number, k: number, s: number, name: string): number {
    const l = this.layers[from]!;
    return this.add({ op: 'maxpool', from, k, s }, name, l.channels, l.stride * s);
  }

  upsample(from: number, name: string, scale = 2): number {
    const l = this.layers[from]!;
    return this.add({ op: 'upsample', from, scale }, name, l.channels, l.stride / scale);
  }

  concat(from: number[], name: string): number {
    const strides = new Set(from.map((f) => this.layers[f]!.stride));
    if (strides.size !== 1) throw new Error(`concat ${name}: inputs at different strides ${[...strides].join(', ')}`);
    return this.add({ op: 'concat', from }, name, from.reduce((s, f) => s + this.layers[f]!.channels, 0), [...strides][0]!);
  }
}

/** TensorFlow SAME padding of one axis: [begin, end]. */
export function samePads(size: number, k: number, s: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** A convolution's pads [top, left, bottom, right] on an h x w input. */
export function convPads(padding: Padding, k: number, s: number, h: number, w: number): [number, number, number, number] {
  if (padding === 'symmetric') {
    const p = Math.floor(k / 2);
    return [p, p, p, p];
  }
  const [t, b] = samePads(h, k, s), [l, r] = samePads(w, k, s);
  return [t, l, b, r];
}

/** Number of weights of a graph (conv kernels, BN scale and shift, biases). */
export function parameterCount(graph: Graph): number {
  let n = 0;
  for (const l of graph.layers) {
    if (l.op !== 'conv') continue;
    const c1 = graph.layers[l.from]!.channels;
    n += l.k * l.k * c1 * l.channels + (l.bn ? 2 * l.channels : l.channels);
  }
  return n;
}
