/**
 * npm run bench:optim [-- --size full --rounds 5] — the optimiser's per-weight loops over every
 * weight of a model (full: 37.9M), as SIMD kernels (src/train/kernels.ts, what training runs)
 * against their plain-loop definitions (src/train/kernels-reference.ts, what it ran before),
 * interleaved round by round; medians and ranges in ms, and the kernels' ratio to the loops.
 */
import { buildYolov7Seg, modelConfig } from '../src/model/yolov7seg.ts';
import { weightSpecs } from '../src/onnx/train-graph.ts';
import * as kernels from '../src/train/kernels.ts';
import { referenceKernels } from '../src/train/kernels-reference.ts';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const size = argOf('--size', 'full'), rounds = Number(argOf('--rounds', '5'));
const specs = weightSpecs(buildYolov7Seg(modelConfig(size)));
let seed = 1;
const random = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 - 0.5; };
const arrays = () => specs.map((s) => Float32Array.from({ length: s.dims.reduce((a, d) => a * d, 1) }, random));
const [p, g, a, b] = [arrays(), arrays(), arrays(), arrays().map((x) => x.map(Math.abs))];
console.log(`${size}: ${specs.length} weights, ${(p.reduce((n, x) => n + x.length, 0) / 1e6).toFixed(1)}M values, ${rounds} interleaved rounds`);

type Impl = typeof referenceKernels;
const loops: [string, (k: Impl) => void][] = [
  ['SGD (Nesterov)', (k) => p.forEach((x, i) => k.sgdStep(x, g[i]!, a[i]!, 5e-4, 0.937, 1e-6))],
  ['AdamW', (k) => p.forEach((x, i) => k.adamwStep(x, g[i]!, a[i]!, b[i]!, 0.937, 0.999, 1.5, 1.01, 1e-8, 1e-6, 5e-4))],
  ['clipping (squares + scale)', (k) => { let s = 0; for (const x of g) s = k.sumOfSquares(x, s); for (const x of g) k.scaleBy(x, 1 / (1 + 1e-9 * s)); }],
  ['EMA', (k) => a.forEach((x, i) => k.emaStep(x, p[i]!, 0.999, 0.001))],
  ['accumulation', (k) => a.forEach((x, i) => k.addInto(x, g[i]!))],
];
const med = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
const range = (v: number[]) => `${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)}`;
for (const [name, run] of loops) {
  const times = { loop: [] as number[], kernel: [] as number[] };
  for (let r = 0; r < rounds + 1; r++) for (const [side, impl] of [['loop', referenceKernels], ['kernel', kernels]] as const) {
    const t = performance.now();
    run(impl);
    if (r > 0) times[side].push(performance.now() - t); // round 0 warms up
  }
  console.log(`${name}: loops ${med(times.loop).toFixed(0)} ms (${range(times.loop)}), kernels ${med(times.kernel).toFixed(0)} ms (${range(times.kernel)}), ${(med(times.kernel) / med(times.loop)).toFixed(2)}x`);
}
