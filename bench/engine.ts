/**
 * npm run bench:engine [-- --sizes 256,640 --batch 4] — forward and training-step time of the
 * benchmark net on every tfjs backend we have, and of the same net in PyTorch when
 * `/usr/bin/python3 -c "import torch"` works (Debian's python3-torch), printing ratios.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupBackend, tf } from '../src/engine/backend.ts';
import { netSpec, TfNet } from './engine-net.ts';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const sizes = argOf('--sizes', '256,640').split(',').map(Number);
const batch = Number(argOf('--batch', '4'));
const backends = argOf('--backends', 'wasm').split(',');
const spec = netSpec();

function median(times: number[]): number { return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!; }

/** Median of `repeats` timed calls after two warm-up calls (sync or async). */
async function time(fn: () => unknown, repeats: number): Promise<number> {
  await fn(); await fn();
  const times: number[] = [];
  for (let k = 0; k < repeats; k++) { const t = performance.now(); await fn(); times.push(performance.now() - t); }
  return median(times);
}

let torch: Record<string, { forward: number; train: number }> & { params?: number; version?: string } = {};
const python = '/usr/bin/python3';
if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-engine-'));
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
  const r = spawnSync(python, [new URL('./engine_torch.py', import.meta.url).pathname, join(dir, 'spec.json'), String(batch), ...sizes.map(String)], { encoding: 'utf8' });
  if (r.status === 0) torch = JSON.parse(r.stdout);
  else console.error(`pytorch run failed: ${r.stderr}`);
} else {
  console.log('PyTorch not importable by /usr/bin/python3 (apt-get install python3-torch): printing tfjs times only');
}

for (const backend of backends) {
  await setupBackend(backend as 'wasm' | 'cpu', { quiet: true });
  const net = new TfNet(spec);
  if (backend === backends[0]) console.log(`net: ${net.parameterCount.toLocaleString('en-US')} parameters (pytorch: ${torch.params?.toLocaleString('en-US') ?? 'n/a'}), batch ${batch}, pytorch ${torch.version ?? 'n/a'} with 2 threads`);
  for (const size of sizes) {
    const x = tf.randomNormal([batch, size, size, 3]) as tf.Tensor4D;
    const fwd = await time(() => tf.tidy(() => { for (const o of net.forward(x)) o.dataSync(); }), 3);
    const train = await time(() => { net.trainStep(x); }, 3);
    x.dispose();
    const ref = torch[String(size)];
    const ratio = (v: number, r?: number) => (r ? ` = ${(v / r).toFixed(1)}x pytorch (${r.toFixed(1)} ms)` : '');
    console.log(`forward ${size}: tfjs-${backend} ${fwd.toFixed(1)} ms${ratio(fwd, ref?.forward)}`);
    console.log(`train ${size}: tfjs-${backend} ${train.toFixed(1)} ms${ratio(train, ref?.train)}`);
  }
  for (const v of net.vars) v.dispose();
}

// ---- YOLOv7-seg train step: the engines the trainer has (issue 8) against PyTorch -----------
// The loss is synthetic, sum(output * G) with fixed random G, so PyTorch (which lacks our YOLO
// loss) runs the same work; each step includes the weight update (Nesterov SGD).
const yoloSize = argOf('--model', 'tiny');
const { buildYolov7Seg, modelConfig } = await import('../src/model/yolov7seg.ts');
const { TfModel } = await import('../src/model/tfjs.ts');
const { OnnxTrainEngine } = await import('../src/train/onnx-engine.ts');
const { Sgd } = await import('../src/train/optim.ts');
const yoloConfig = modelConfig(yoloSize);
const yoloGraph = buildYolov7Seg(yoloConfig);
let yoloTorch: Record<string, { train: number }> & { params?: number } = {};
if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-engine-'));
  writeFileSync(join(dir, 'graph.json'), JSON.stringify(yoloGraph));
  const r = spawnSync(python, [new URL('./graph_torch.py', import.meta.url).pathname, join(dir, 'graph.json'), String(batch), ...sizes.map(String)], { encoding: 'utf8' });
  if (r.status === 0) yoloTorch = JSON.parse(r.stdout);
  else console.error(`pytorch run failed: ${r.stderr}`);
}
await setupBackend('wasm', { quiet: true });
const yolo = new TfModel(yoloGraph, yoloConfig, 0);
const params = new Map([...yolo.weights].filter(([, v]) => v.trainable));
const sgd = new Sgd(params, 0.9, 5e-4);
const lr = { weights: 1e-4, norm: 1e-4, bias: 1e-4 };
const nameOfVar = new Map([...yolo.weights].map(([n, v]) => [v.name, n]));
console.log(`\nYOLOv7-seg ${yoloSize} (${yolo.trainable.reduce((s, v) => s + v.size, 0).toLocaleString('en-US')} parameters; pytorch ${yoloTorch.params?.toLocaleString('en-US') ?? 'n/a'}), batch ${batch}, train step with a synthetic loss and SGD`);
for (const size of sizes) {
  const x = tf.randomUniform([batch, size, size, 3]) as tf.Tensor4D;
  const shapes = (() => { const o = yolo.predict(x); const s = [...o.heads, o.proto].map((t) => t.shape); tf.dispose([...o.heads, o.proto]); return s; })();
  const gs = shapes.map((s, k) => tf.randomNormal(s, 0, 1, 'float32', k));
  const loss = (out: { heads: tf.Tensor[]; proto: tf.Tensor }) => {
    const total = [...out.heads, out.proto].reduce((s: tf.Tensor, t, k) => tf.add(s, tf.sum(tf.mul(t, gs[k]!))), tf.scalar(0)) as tf.Scalar;
    return { total, box: total, obj: total, cls: total, seg: total };
  };
  const engine = new OnnxTrainEngine(yoloGraph, size);
  const onnxMs = await time(async () => {
    const { grads } = await engine.step(yolo, x, loss);
    sgd.step(grads, lr);
    tf.dispose([...grads.values()]);
    yolo.updateRunningStats();
  }, 5);
  await engine.dispose();
  const ref = yoloTorch[String(size)]?.train;
  const vs = (v: number) => (ref ? ` = ${(v / ref).toFixed(2)}x pytorch` : '');
  console.log(`train ${size}: pytorch ${ref ? `${ref.toFixed(1)} ms` : 'n/a'} | onnx engine ${onnxMs.toFixed(1)} ms${vs(onnxMs)}`);
  // tfjs-wasm's heap is 4 GB: the tiny YOLOv7-seg at 640 with batch 4 aborts it (measured), so
  // the tfjs engine is timed only up to --tfjs-max (default 320).
  if (size > Number(argOf('--tfjs-max', '320'))) { tf.dispose([x, ...gs]); continue; }
  const tfjsMs = await time(async () => {
    const raw = tf.tidy(() => tf.variableGrads(() => loss(yolo.forward(x, true)).total, yolo.trainable).grads);
    const grads = new Map(Object.entries(raw).map(([v, g]) => [nameOfVar.get(v)!, g]));
    sgd.step(grads, lr);
    tf.dispose([...grads.values()]);
    yolo.updateRunningStats();
  }, 3);
  console.log(`train ${size}: tfjs engine (wasm) ${tfjsMs.toFixed(1)} ms${vs(tfjsMs)}; the onnx engine is ${(tfjsMs / onnxMs).toFixed(1)}x faster`);
  tf.dispose([x, ...gs]);
}
