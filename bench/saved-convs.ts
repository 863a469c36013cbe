/**
 * npm run bench:saved-convs [-- --size full --imgsz 256 --batch 4 --rounds 8 --save Infinity,2048,512]
 * — the onnx engine's training step (forward, our loss, backward; batch 4 of fixed random
 * images with eight elliptical targets each, as bench:engine) with the forward saving the
 * convolutions of at least N multiply-adds per output for the backward (`SAVE_CONV_MACS`;
 * Infinity: none saved, every convolution run twice), one engine per N, their steps
 * interleaved in one process so that the machine's drift falls on all alike. Prints each
 * one's median and spread, its ratio to the first, and the per-step ratios to the first (their
 * spread is the noise: repeat a value in --save to see it).
 */
import { stepFixture } from './step-targets.ts';
import { OnnxTrainEngine } from '../src/train/onnx-engine.ts';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const size = argOf('--size', 'full'), px = Number(argOf('--imgsz', '256')), batch = Number(argOf('--batch', '4'));
const rounds = Number(argOf('--rounds', '8'));
const macs = argOf('--save', 'Infinity,2048,512').split(',').map(Number);
const { graph, weights, x, loss } = await stepFixture(size, px, batch);
const engines = macs.map((t) => new OnnxTrainEngine(graph, px, 2, t));
const times = engines.map(() => [] as number[]);
// Round 0 builds the sessions and warms up: not timed.
for (let r = 0; r < rounds + 1; r++) for (const [k, e] of engines.entries()) {
  const t = performance.now();
  await e.step(weights, x, loss);
  if (r > 0) times[k]!.push(performance.now() - t);
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const base = med(times[0]!);
macs.forEach((t, k) => console.log(`${size} at ${px} px, batch ${batch}, saving convolutions of >= ${t} multiply-adds: median ${med(times[k]!).toFixed(0)} ms (${Math.min(...times[k]!).toFixed(0)}-${Math.max(...times[k]!).toFixed(0)}), ${(med(times[k]!) / base).toFixed(3)}x the first; per-step ratios ${times[k]!.map((v, i) => (v / times[0]![i]!).toFixed(2)).sort().join(' ')}`));
for (const e of engines) await e.dispose();
