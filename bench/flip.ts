/**
 * npm run bench:flip — the backward graph's kernel flips for the input gradients of the full
 * model's 3x3 stride-1 convolutions (each kernel turned by 180 degrees and transposed in <-> out):
 * a Slice with negative steps after the Transpose (before 2026-12-07) against a product with
 * the reversing permutation before it (train-graph.ts, flipKernels), checked bit for bit and
 * timed interleaved, 15 rounds, onnxruntime on 2 threads.
 */
import { ort } from '../src/infer/runtime.ts';
import { OnnxBuilder } from '../src/onnx/builder.ts';
import { buildYolov7Seg, modelConfig } from '../src/model/yolov7seg.ts';
import { flipKernels, reversal } from '../src/onnx/train-graph.ts';
const api = await ort();
const graph = buildYolov7Seg(modelConfig('full'));
const convs = graph.layers.flatMap((l) => (l.op === 'conv' && l.s === 1 && l.k === 3 ? [{ co: l.channels, c1: graph.layers[l.from]!.channels }] : []));
console.log(`${convs.length} 3x3 stride-1 kernels, ${convs.reduce((s, c) => s + c.co * c.c1 * 9, 0) / 1e6} M values`);
function model(form: 'slice' | 'matmul'): Uint8Array {
  const b = new OnnxBuilder();
  const J = form === 'matmul' ? reversal(b, 3) : '';
  convs.forEach((c, k) => {
    const w = b.input(`w${k}`, [c.co, c.c1, 3, 3]);
    const out = form === 'slice'
      ? b.op('Slice', [b.op('Transpose', [w], { perm: [1, 0, 2, 3] }), b.int64('c', [-1, -1]), b.int64('c', [-4, -4]), b.int64('c', [2, 3]), b.int64('c', [-1, -1])])
      : b.op('Transpose', [flipKernels(b, (v) => b.int64('c', v), w, c.co, c.c1, 3, J)], { perm: [1, 0, 2, 3] });
    b.node('Identity', [out], {}, [`f${k}`]);
    b.output(`f${k}`, [c.c1, c.co, 3, 3]);
  });
  return b.encode(form);
}
const opts = { intraOpNumThreads: 2, graphOptimizationLevel: 'all' as const, enableMemPattern: false };
const S = await api.InferenceSession.create(model('slice'), opts), M = await api.InferenceSession.create(model('matmul'), opts);
// Arbitrary kernel values, negative ones among them.
const feeds = Object.fromEntries(convs.map((c, k) => { const a = new Float32Array(c.co * c.c1 * 9); for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.37 + k); return [`w${k}`, new api.Tensor('float32', a, [c.co, c.c1, 3, 3])]; }));
const a = await S.run(feeds), b = await M.run(feeds);
let same = true; for (const k of Object.keys(a)) { const x = a[k]!.data as Float32Array, y = b[k]!.data as Float32Array; for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) { same = false; break; } }
console.log(`bit-identical: ${same}`);
const ts: number[] = [], tm: number[] = [];
for (let r = 0; r < 15; r++) {
  let t = performance.now(); await S.run(feeds); ts.push(performance.now() - t);
  t = performance.now(); await M.run(feeds); tm.push(performance.now() - t);
}
const med = (v: number[]) => [...v].sort((p, q) => p - q)[7]!;
console.log(`Transpose+Slice ${med(ts).toFixed(1)} ms (${Math.min(...ts).toFixed(1)}-${Math.max(...ts).toFixed(1)}); MatMul+Transpose ${med(tm).toFixed(1)} ms (${Math.min(...tm).toFixed(1)}-${Math.max(...tm).toFixed(1)}); ratio ${(med(tm) / med(ts)).toFixed(2)}`);
