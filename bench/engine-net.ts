/**
 * The benchmark network until the YOLOv7-seg model lands: a YOLOv8-seg-like net (Conv-BN-SiLU,
 * C2f, SPPF, an FPN/PAN neck, three output convs and a prototype branch) written as a layer
 * list, so the tfjs interpreter here and bench/engine_torch.py build exactly the same graph.
 */
import { tf } from '../src/engine/backend.ts';
import { bnSilu } from '../src/engine/ops.ts';

export type Layer =
  | { op: 'conv'; from: number; c1: number; c2: number; k: number; s: number }
  | { op: 'c2f'; from: number; c1: number; c2: number; n: number }
  | { op: 'sppf'; from: number; c1: number; c2: number }
  | { op: 'up'; from: number }
  | { op: 'concat'; from: number[] }
  | { op: 'out'; from: number; c1: number; c2: number };

/** The layer list; `from` indexes earlier layers (-1: the previous one; 0 is the input image). */
export function netSpec(width = 1): Layer[] {
  const c = (v: number) => Math.max(8, Math.round((v * width) / 8) * 8);
  const L: Layer[] = [];
  const add = (l: Layer) => { L.push(l); return L.length; }; // layer ids start at 1
  add({ op: 'conv', from: 0, c1: 3, c2: c(16), k: 3, s: 2 });
  add({ op: 'conv', from: -1, c1: c(16), c2: c(32), k: 3, s: 2 });
  add({ op: 'c2f', from: -1, c1: c(32), c2: c(32), n: 1 });
  add({ op: 'conv', from: -1, c1: c(32), c2: c(64), k: 3, s: 2 });
  const p3 = add({ op: 'c2f', from: -1, c1: c(64), c2: c(64), n: 1 });
  add({ op: 'conv', from: -1, c1: c(64), c2: c(96), k: 3, s: 2 });
  const p4 = add({ op: 'c2f', from: -1, c1: c(96), c2: c(96), n: 1 });
  add({ op: 'conv', from: -1, c1: c(96), c2: c(128), k: 3, s: 2 });
  add({ op: 'c2f', from: -1, c1: c(128), c2: c(128), n: 1 });
  const p5 = add({ op: 'sppf', from: -1, c1: c(128), c2: c(128) });
  add({ op: 'up', from: -1 });
  add({ op: 'concat', from: [-1, p4] });
  const n4 = add({ op: 'c2f', from: -1, c1: c(128) + c(96), c2: c(96), n: 1 });
  add({ op: 'up', from: -1 });
  add({ op: 'concat', from: [-1, p3] });
  const o3 = add({ op: 'c2f', from: -1, c1: c(96) + c(64), c2: c(64), n: 1 });
  add({ op: 'conv', from: -1, c1: c(64), c2: c(64), k: 3, s: 2 });
  add({ op: 'concat', from: [-1, n4] });
  const o4 = add({ op: 'c2f', from: -1, c1: c(64) + c(96), c2: c(96), n: 1 });
  add({ op: 'conv', from: -1, c1: c(96), c2: c(96), k: 3, s: 2 });
  add({ op: 'concat', from: [-1, p5] });
  const o5 = add({ op: 'c2f', from: -1, c1: c(96) + c(128), c2: c(128), n: 1 });
  add({ op: 'out', from: o3, c1: c(64), c2: 3 * (5 + 3 + 32) });
  add({ op: 'out', from: o4, c1: c(96), c2: 3 * (5 + 3 + 32) });
  add({ op: 'out', from: o5, c1: c(128), c2: 3 * (5 + 3 + 32) });
  add({ op: 'up', from: o3 });
  add({ op: 'conv', from: -1, c1: c(64), c2: c(64), k: 3, s: 1 });
  add({ op: 'out', from: -1, c1: c(64), c2: 32 });
  return L;
}

/** Variables of the net, created in layer order (the Python side creates them in the same order). */
export class TfNet {
  readonly vars: tf.Variable[] = [];
  private readonly params = new Map<string, tf.Variable>();
  constructor(readonly spec: Layer[], seed = 1) {
    let k = 0;
    const conv = (name: string, c1: number, c2: number, kk: number, bn = true) => {
      const fanIn = c1 * kk * kk;
      this.addVar(`${name}.w`, tf.randomNormal([kk, kk, c1, c2], 0, Math.sqrt(2 / fanIn), 'float32', seed + k++));
      if (bn) {
        this.addVar(`${name}.g`, tf.ones([c2]));
        this.addVar(`${name}.b`, tf.zeros([c2]));
      } else this.addVar(`${name}.bias`, tf.zeros([c2]));
    };
    spec.forEach((l, i) => {
      const id = `${i + 1}`;
      if (l.op === 'conv') conv(id, l.c1, l.c2, l.k);
      if (l.op === 'c2f') {
        const h = l.c2 / 2;
        conv(`${id}.cv1`, l.c1, 2 * h, 1);
        for (let b = 0; b < l.n; b++) { conv(`${id}.m${b}.a`, h, h, 3); conv(`${id}.m${b}.b`, h, h, 3); }
        conv(`${id}.cv2`, (2 + l.n) * h, l.c2, 1);
      }
      if (l.op === 'sppf') { conv(`${id}.cv1`, l.c1, l.c1 / 2, 1); conv(`${id}.cv2`, 2 * l.c1, l.c2, 1); }
      if (l.op === 'out') conv(id, l.c1, l.c2, 1, false);
    });
  }
  private addVar(name: string, t: tf.Tensor): void {
    const v = tf.variable(t, true, name);
    this.vars.push(v);
    this.params.set(name, v);
  }
  get parameterCount(): number {
    return this.vars.reduce((s, v) => s + v.size, 0);
  }

  private cbs(name: string, x: tf.Tensor4D, s = 1): tf.Tensor4D {
    const y = tf.conv2d(x, this.params.get(`${name}.w`) as tf.Tensor4D, s, 'same');
    const r = bnSilu(y, this.params.get(`${name}.g`) as tf.Tensor1D, this.params.get(`${name}.b`) as tf.Tensor1D);
    r.mean.dispose();
    r.variance.dispose();
    return r.y;
  }

  /** Forward pass in training mode (batch statistics); returns the output tensors. */
  forward(image: tf.Tensor4D): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [image];
    const results: tf.Tensor4D[] = [];
    const get = (from: number, at: number) => outs[from < 0 ? at + from : from]!;
    this.spec.forEach((l, i) => {
      const id = `${i + 1}`;
      const at = i + 1;
      let y: tf.Tensor4D;
      if (l.op === 'conv') y = this.cbs(id, get(l.from, at), l.s);
      else if (l.op === 'c2f') {
        const a = this.cbs(`${id}.cv1`, get(l.from, at));
        // A copy: tfjs keeps the array split returns as the op's outputs, so pushing to it would corrupt the tape.
        const parts = [...tf.split(a, 2, 3)] as tf.Tensor4D[];
        let cur = parts[1]!;
        for (let b = 0; b < l.n; b++) {
          cur = tf.add(cur, this.cbs(`${id}.m${b}.b`, this.cbs(`${id}.m${b}.a`, cur)));
          parts.push(cur);
        }
        y = this.cbs(`${id}.cv2`, tf.concat(parts, 3));
      } else if (l.op === 'sppf') {
        const a = this.cbs(`${id}.cv1`, get(l.from, at));
        const p1 = tf.maxPool(a, 5, 1, 'same'), p2 = tf.maxPool(p1, 5, 1, 'same'), p3 = tf.maxPool(p2, 5, 1, 'same');
        y = this.cbs(`${id}.cv2`, tf.concat([a, p1, p2, p3], 3));
      } else if (l.op === 'up') {
        const x = get(l.from, at);
        y = tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]);
      } else if (l.op === 'concat') y = tf.concat(l.from.map((f) => get(f, at)), 3);
      else {
        y = tf.add(tf.conv2d(get(l.from, at), this.params.get(`${id}.w`) as tf.Tensor4D, 1, 'same'), this.params.get(`${id}.bias`)!);
        results.push(y);
      }
      outs.push(y);
    });
    return results;
  }

  /** The benchmark's stand-in loss: the mean square of every output. */
  loss(image: tf.Tensor4D): tf.Scalar {
    return this.forward(image).reduce((s, o) => tf.add(s, tf.mean(tf.square(o))), tf.scalar(0)) as tf.Scalar;
  }

  /** One SGD step: forward, backward, update. */
  trainStep(image: tf.Tensor4D, lr = 1e-3): number {
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => this.loss(image), this.vars);
      for (const v of this.vars) v.assign(tf.sub(v, tf.mul(grads[v.name]!, lr)));
      return value;
    }).dataSync()[0]!;
  }
}
