/**
 * npm run bench:profile [-- --size full --imgsz 256 --batch 4 --steps 3 --top 16 --shapes 12]
 * — where the onnx engine's training step spends its time inside onnxruntime: the forward and
 * backward graphs of `--steps` steps (after one untimed warm-up step) profiled by onnxruntime
 * itself (`VASCSEG_ORT_PROFILE`), node times summed per op type and per graph, with the share
 * of each graph's total; then the arithmetic: per graph, the GFLOP/s of its convolutions
 * (forward and input gradients; not the im2col one-hots) and of its matrix products (the weight
 * gradients), and the `--shapes` slowest node shapes with theirs. Batch of fixed random images
 * with eight elliptical targets each, as bench:engine.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stepFixture } from './step-targets.ts';
import { OnnxTrainEngine } from '../src/train/onnx-engine.ts';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const size = argOf('--size', 'full'), px = Number(argOf('--imgsz', '256')), batch = Number(argOf('--batch', '4'));
const steps = Number(argOf('--steps', '3')), top = Number(argOf('--top', '16')), shapesShown = Number(argOf('--shapes', '12'));
const dir = await mkdtemp(join(tmpdir(), 'vascseg-profile-'));
process.env.VASCSEG_ORT_PROFILE = join(dir, 'session');
const { graph, weights, x, loss } = await stepFixture(size, px, batch);
const engine = new OnnxTrainEngine(graph, px, 2);
for (let s = 0; s <= steps; s++) await engine.step(weights, x, loss);
await engine.dispose();

interface TraceEvent {
  cat: string; name: string; dur: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}
const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const dimsOf = (list: Record<string, number[]>[] | undefined) => (list ?? []).map((o) => Object.values(o)[0]!);

/**
 * Floating-point operations of a node (2 per multiply-add), with a label of its shape, or null
 * for nodes that are not arithmetic: a Conv's output times its kernel's C1 k k (the im2col
 * one-hot convolutions are copies and left out), a MatMul's output times its inner dimension.
 */
function arithmetic(e: TraceEvent): { label: string; flops: number; kind: 'conv' | 'matmul' } | null {
  const op = e.args?.op_name, inputs = dimsOf(e.args?.input_type_shape), output = dimsOf(e.args?.output_type_shape)[0];
  if (!output) return null;
  if (op === 'Conv' && inputs[1] && !e.name.includes('.im2col')) {
    const w = inputs[1];
    return { kind: 'conv', label: `Conv${e.name.includes('.dx') ? ' dx' : ''} w ${w.join('x')} -> ${output.join('x')}`, flops: 2 * count(output) * w[1]! * w[2]! * w[3]! };
  }
  if ((op === 'MatMul' || op === 'FusedMatMul') && inputs[0] && inputs[1]) {
    return { kind: 'matmul', label: `${op} ${inputs[0].join('x')} . ${inputs[1].join('x')}`, flops: 2 * count(output) * inputs[0][inputs[0].length - 1]! };
  }
  return null;
}
const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
// Sessions are created forward first, so the older file is the forward graph's.
for (const [k, file] of files.entries()) {
  const events = JSON.parse(await readFile(join(dir, file), 'utf8')) as TraceEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  // Every run has the same nodes, in order: the first run's (the warm-up) are left out.
  const perRun = nodes.length / runs.length, timedRuns = runs.length - 1;
  const timed = nodes.slice(perRun);
  const msPerRun = (us: number) => us / 1000 / timedRuns;
  const byOp = new Map<string, number>();
  // Op type and the role its node's name gives (`layer.im2col`, `layer.dx`, ...: the builder's hints).
  const role = (e: TraceEvent) => `${e.args?.op_name ?? '?'} ${e.name.replace(/_kernel_time$/, '').replace(/^.*\./, '.').replace(/\/.*$/, '').replace(/_\d+$/, '')}`;
  for (const e of timed) byOp.set(role(e), (byOp.get(role(e)) ?? 0) + e.dur);
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const runUs = runs.slice(1).reduce((a, e) => a + e.dur, 0);
  console.log(`${k === 0 ? 'forward' : 'backward'} graph, ${size} at ${px} px, batch ${batch}: model_run ${msPerRun(runUs).toFixed(0)} ms per step, node time ${msPerRun(total).toFixed(0)} ms (${perRun} nodes)`);
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${op.padEnd(36)} ${msPerRun(us).toFixed(1).padStart(8)} ms  ${((100 * us) / total).toFixed(1).padStart(5)}%`);
  }
  // GFLOP/s = flops / (us * 1e3).
  const kinds = { conv: { flops: 0, us: 0 }, matmul: { flops: 0, us: 0 } };
  const byShape = new Map<string, { flops: number; us: number }>();
  for (const e of timed) {
    const a = arithmetic(e);
    if (!a) continue;
    kinds[a.kind].flops += a.flops; kinds[a.kind].us += e.dur;
    const s = byShape.get(a.label) ?? { flops: 0, us: 0 };
    s.flops += a.flops; s.us += e.dur;
    byShape.set(a.label, s);
  }
  const rate = (t: { flops: number; us: number }) => `${(t.flops / timedRuns / 1e9).toFixed(1)} GFLOP in ${msPerRun(t.us).toFixed(0)} ms, ${(t.flops / t.us / 1e3).toFixed(0)} GFLOP/s`;
  console.log(`  arithmetic: convolutions ${kinds.conv.us ? rate(kinds.conv) : 'none'}; matrix products ${kinds.matmul.us ? rate(kinds.matmul) : 'none'}`);
  for (const [label, t] of [...byShape].sort((a, b) => b[1].us - a[1].us).slice(0, shapesShown)) {
    console.log(`    ${label.padEnd(52)} ${msPerRun(t.us).toFixed(1).padStart(8)} ms ${(t.flops / t.us / 1e3).toFixed(0).padStart(5)} GFLOP/s`);
  }
}
await rm(dir, { recursive: true, force: true });
