import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { OnnxTrainEngine } from '../../src/train/onnx-engine.ts';
import { TfjsTrainEngine } from '../../src/train/tfjs-engine.ts';
import type { StepResult } from '../../src/train/engine.ts';
import type { PlainLossFunction } from '../../src/train/loss.ts';
import { fromPlain, plainWeights, toPlain } from '../../src/train/weights.ts';

await setupBackend('cpu', { quiet: true });

/** Largest |a - b| relative to the largest |a|. */
function relError(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i]! - b[i]!)); den = Math.max(den, Math.abs(a[i]!)); }
  return num / Math.max(den, 1e-12);
}

test('plain weights: kernels in the OIHW layout, and back to tfjs exactly', () => {
  const t = tf.tensor4d(Float32Array.from({ length: 3 * 3 * 2 * 4 }, (_, k) => k), [3, 3, 2, 4]);
  const plain = toPlain(t);
  const oihw = tf.transpose(t, [3, 2, 0, 1]);
  assert.deepEqual([...plain], [...oihw.dataSync()]);
  assert.deepEqual([...fromPlain(plain, t.shape).dataSync()], [...t.dataSync()]);
  tf.dispose([t, oihw]);
});

test('the onnx and tfjs engines give one step the same gradients and batch statistics, in fresh arrays', async () => {
  const config = modelConfig('tiny');
  const graph = buildYolov7Seg(config);
  const model = new TfModel(graph, config, 5);
  const weights = plainWeights(model);
  const x = tf.randomUniform([2, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const out = model.predict(x);
  const gs = [...out.heads, out.proto].map((o, k) => tf.tidy(() => tf.randomNormal(o.shape, 0, 1, 'float32', 10 + k).dataSync() as Float32Array));
  tf.dispose([...out.heads, out.proto]);
  // sum(output * G): its gradient is G.
  const loss: PlainLossFunction = (outs) => {
    let total = 0;
    outs.forEach((o, k) => { for (let i = 0; i < o.data.length; i++) total += o.data[i]! * gs[k]![i]!; });
    return { total, box: total, obj: total, cls: total, seg: total, grads: gs };
  };
  const onnx = new OnnxTrainEngine(graph, 64, 1);
  const a = await onnx.step(weights, x, loss);
  const copy = new Map([...a.grads].map(([n, g]) => [n, Float32Array.from(g)]));
  const b: StepResult = await new TfjsTrainEngine(model).step(weights, x, loss);
  assert.deepEqual([...a.grads.keys()].sort(), [...b.grads.keys()].sort());
  assert.equal(a.grads.size, 234);
  const errors = [...a.grads].map(([name, g]) => relError(b.grads.get(name)!, g)).sort((p, q) => p - q);
  assert.ok(errors[errors.length >> 1]! <= 5e-4 && errors.at(-1)! <= 5e-3, `gradients: median ${errors[errors.length >> 1]}, worst ${errors.at(-1)}`);
  assert.deepEqual(a.stats.map((s) => s.name), b.stats.map((s) => s.name));
  a.stats.forEach((s, k) => {
    assert.ok(relError(b.stats[k]!.mean, s.mean) <= 1e-3, `${s.name} mean`);
    assert.ok(relError(b.stats[k]!.variance, s.variance) <= 1e-3, `${s.name} variance`);
  });
  assert.ok(Math.abs(a.parts[0] - b.parts[0]) <= 1e-4 * Math.abs(b.parts[0]), `loss ${a.parts[0]} vs ${b.parts[0]}`);
  // The trainer accumulates into and clips the returned arrays: a later step must not reuse them.
  const again = await onnx.step(weights, x, loss);
  for (const [name, g] of a.grads) {
    assert.notEqual(again.grads.get(name)!.buffer, g.buffer, name);
    assert.deepEqual(g, copy.get(name), name);
  }
  await onnx.dispose();
  x.dispose();
  model.dispose();
});
