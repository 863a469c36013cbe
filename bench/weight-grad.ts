/**
 * npm run bench:weight-grad [-- N C1 CO H K S] — a convolution's weight gradient three exact ways
 * on onnxruntime (2 threads): im2col (a grouped one-hot Conv) + batched MatMul + ReduceSum, the
 * training graphs' per-image form, against the same with the batch folded into one GEMM (the
 * form `foldsBatch` picks for deep layers) and against one Conv with batch and channels swapped (x^T [C1, N, H, W]
 * convolved with dy^T [CO, N, h, w] at dilation S). Without arguments, ten layer shapes of
 * the YOLOv7-seg widths at 256 px, batch 4. Prints medians of five interleaved runs, the ratios
 * to the first and the relative difference of each result from the first.
 */
import { ort } from '../src/infer/runtime.ts';
import { OnnxBuilder } from '../src/onnx/builder.ts';
import { foldsBatch, weightGradModel } from '../src/onnx/train-graph.ts';
const api = await ort();
type Shape = [n: number, c1: number, co: number, H: number, k: number, s: number];
const given = process.argv.slice(2).map(Number);
const shapes: Shape[] = given.length === 6 ? [given as Shape]
  : [[4, 32, 64, 128, 3, 2], [4, 64, 64, 64, 3, 1], [4, 64, 64, 128, 3, 1], [4, 128, 128, 32, 3, 1], [4, 128, 256, 32, 3, 2], [4, 256, 256, 16, 3, 1], [4, 512, 512, 8, 3, 1], [4, 1024, 1024, 8, 3, 1], [4, 1024, 512, 8, 1, 1], [4, 512, 1024, 16, 3, 2]];
for (const [n, c1, co, H, k, s] of shapes) {
const p = (k - 1) / 2, h = Math.floor((H + 2 * p - k) / s) + 1;
const conv = { name: 'l', batch: n, c1, co, k, s, pads: [p, p, p, p] as [number, number, number, number], hw: h * h };
function swapped() {
  const b = new OnnxBuilder();
  const x = b.input('x', [n, c1, H, H]), dy = b.input('dy', [n, co, h, h]);
  const xt = b.op('Transpose', [x], { perm: [1, 0, 2, 3] }), dyt = b.op('Transpose', [dy], { perm: [1, 0, 2, 3] });
  // Output [c1, co, k', k']: with pads p the valid positions are 0..k-1 (extra rows cut when H + 2p - dilated kernel > k - 1).
  const span = s * (h - 1) + 1; const out = H + 2 * p - span + 1;
  let conv = b.op('Conv', [xt, dyt], { kernel_shape: [h, h], dilations: [s, s], pads: [p, p, p, p] });
  if (out !== k) conv = b.op('Slice', [conv, b.int64('c', [0, 0]), b.int64('c', [k, k]), b.int64('c', [2, 3])]);
  b.node('Transpose', [conv], { perm: [1, 0, 2, 3] }, ['dw']);
  b.output('dw', [co, c1, k, k]);
  return b.encode('b');
}
const opts = { intraOpNumThreads: 2, graphOptimizationLevel: 'all' as const, enableMemPattern: false };
const A = await api.InferenceSession.create(weightGradModel(conv, H, false), opts), B = await api.InferenceSession.create(swapped(), opts);
const F = await api.InferenceSession.create(weightGradModel(conv, H, true), opts);
const rnd = (len: number) => { const a = new Float32Array(len); let v = 7; for (let i = 0; i < len; i++) { v = (v * 1103515245 + 12345) >>> 0; a[i] = v / 2 ** 32 - 0.5; } return a; };
const feeds = { x: new api.Tensor('float32', rnd(n * c1 * H * H), [n, c1, H, H]), dy: new api.Tensor('float32', rnd(n * co * h * h), [n, co, h, h]) };
const a = (await A.run(feeds)).dw!.data as Float32Array;
const relDiff = (other: Float32Array) => { let err = 0, mag = 0; for (let i = 0; i < a.length; i++) { err = Math.max(err, Math.abs(a[i]! - other[i]!)); mag = Math.max(mag, Math.abs(a[i]!)); } return (err / mag).toExponential(1); };
const diffB = relDiff((await B.run(feeds)).dw!.data as Float32Array), diffF = relDiff((await F.run(feeds)).dw!.data as Float32Array);
const ta: number[] = [], tb: number[] = [], tf: number[] = [];
const timed = async (session: typeof A, into: number[]) => { const t = performance.now(); await session.run(feeds); into.push(performance.now() - t); };
for (let r = 0; r < 5; r++) { await timed(A, ta); await timed(B, tb); await timed(F, tf); }
const med = (v: number[]) => v.sort((x, y) => x - y)[2]!;
const vs = (v: number[]) => `${med(v).toFixed(1)} ms (${(med(v) / med(ta)).toFixed(2)}x)`;
console.log(`n${n} c1 ${c1} co ${co} ${H}px k${k} s${s}: im2col per image ${med(ta).toFixed(1)} ms, batch folded into one GEMM ${vs(tf)}${foldsBatch(conv) ? ' (the rule folds)' : ''}, swapped conv ${vs(tb)}; rel diff ${diffF} folded, ${diffB} swapped`);
}
