/**
 * npm run bench:engine [-- --sizes 256,640 --batch 4] — forward and training-step time of the
 * benchmark net on every tfjs backend we have, and of the same net in PyTorch when
 * `/usr/bin/python3 -c "import torch"` works (Debian's python3-torch), printing ratios.
 * With `--yolov7 PATH` (a clone of the official YOLOv7-seg, branch u7) it also times the
 * official training step (official model, official ComputeLoss, backward, SGD) beside ours
 * (our model of the same architecture, our loss, the onnx engine, SGD) at `--yolov7-widths`
 * (default 0.125, tiny-like, and 1, full), interleaved, median of the repeats. `--backends none`
 * skips the tfjs net (its PyTorch twin still runs).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupBackend, tf } from '../src/engine/backend.ts';
import { netSpec, TfNet } from './engine-net.ts';
import { stepTargets } from './step-targets.ts';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const sizes = argOf('--sizes', '256,640').split(',').map(Number);
const batch = Number(argOf('--batch', '4'));
const backends = argOf('--backends', 'wasm').split(',').filter((b) => b !== 'none'); // none: skip the tfjs net
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
const { TfModel, foldBatchStats } = await import('../src/model/tfjs.ts');
const { OnnxTrainEngine } = await import('../src/train/onnx-engine.ts');
const { TfjsTrainEngine } = await import('../src/train/tfjs-engine.ts');
const { Sgd } = await import('../src/train/optim.ts');
const { plainWeights, trainableWeights } = await import('../src/train/weights.ts');
/** The trainer's state: plain weights, the trainable ones under Nesterov SGD. */
const trainState = (model: InstanceType<typeof TfModel>, momentum: number) => {
  const weights = plainWeights(model);
  return { weights, sgd: new Sgd(trainableWeights(model, weights), momentum, 5e-4), bnUpdates: 0 };
};
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
const state = trainState(yolo, 0.9);
const lr = { weights: 1e-4, norm: 1e-4, bias: 1e-4 };
console.log(`\nYOLOv7-seg ${yoloSize} (${yolo.trainable.reduce((s, v) => s + v.size, 0).toLocaleString('en-US')} parameters; pytorch ${yoloTorch.params?.toLocaleString('en-US') ?? 'n/a'}), batch ${batch}, train step with a synthetic loss and SGD`);
for (const size of sizes) {
  const x = tf.randomUniform([batch, size, size, 3]) as tf.Tensor4D;
  const shapes = (() => { const o = yolo.predict(x); const s = [...o.heads, o.proto].map((t) => t.shape); tf.dispose([...o.heads, o.proto]); return s; })();
  const gs = shapes.map((s, k) => tf.tidy(() => tf.randomNormal(s, 0, 1, 'float32', k).dataSync() as Float32Array));
  const loss = (outs: readonly { data: Float32Array }[]) => {
    let total = 0;
    outs.forEach((o, k) => { for (let i = 0; i < o.data.length; i++) total += o.data[i]! * gs[k]![i]!; });
    return { total, box: total, obj: total, cls: total, seg: total, grads: gs };
  };
  const engine = new OnnxTrainEngine(yoloGraph, size);
  const onnxMs = await time(async () => {
    const { grads, stats } = await engine.step(state.weights, x, loss);
    state.sgd.step(grads, lr);
    foldBatchStats(state.weights, stats, ++state.bnUpdates);
  }, 5);
  await engine.dispose();
  const ref = yoloTorch[String(size)]?.train;
  const vs = (v: number) => (ref ? ` = ${(v / ref).toFixed(2)}x pytorch` : '');
  console.log(`train ${size}: pytorch ${ref ? `${ref.toFixed(1)} ms` : 'n/a'} | onnx engine ${onnxMs.toFixed(1)} ms${vs(onnxMs)}`);
  // tfjs-wasm's heap is 4 GB: the tiny YOLOv7-seg at 640 with batch 4 aborts it (measured), so
  // the tfjs engine is timed only up to --tfjs-max (default 320).
  if (size > Number(argOf('--tfjs-max', '320'))) { x.dispose(); continue; }
  const tfjsEngine = new TfjsTrainEngine(yolo);
  const tfjsMs = await time(async () => {
    const { grads, stats } = await tfjsEngine.step(state.weights, x, loss);
    state.sgd.step(grads, lr);
    foldBatchStats(state.weights, stats, ++state.bnUpdates);
  }, 3);
  console.log(`train ${size}: tfjs engine (wasm) ${tfjsMs.toFixed(1)} ms${vs(tfjsMs)}; the onnx engine is ${(tfjsMs / onnxMs).toFixed(1)}x faster`);
  x.dispose();
}

// ---- The official YOLOv7-seg step (issue 14) --------------------------------------------------
const official = argOf('--yolov7', '');
if (official) {
  const { lossOnArrays, defaultHyp } = await import('../src/train/loss.ts');
  const threads = Number(argOf('--threads', '2'));
  const widths = argOf('--yolov7-widths', '0.125,1').split(',').map(Number);
  console.log(`\nofficial YOLOv7-seg step vs ours, batch ${batch}, ${threads} threads each; ours = onnx engine forward + backward, our loss, SGD (no batch preparation: both sides get fixed tensors)`);
  for (const width of widths) {
    const size = width === 1 ? 'full' : `w${width}`;
    const config = modelConfig(size);
    const graph = buildYolov7Seg(config);
    const model = new TfModel(graph, config, 0);
    const state = trainState(model, 0.937);
    for (const px of sizes) {
      const { targets, masks } = stepTargets(batch, px);
      const hyp = defaultHyp(3, px);
      const x = tf.randomUniform([batch, px, px, 3]) as tf.Tensor4D;
      const engine = new OnnxTrainEngine(graph, px, threads);
      const ours: number[] = [], theirs: number[] = [];
      let peak = 0, update = 0, steps = 0;
      for (let round = 0; round < 3; round++) {
        // Interleaved: one official run (warm-up + repeats, its own process), then ours.
        const r = spawnSync(python, [new URL('./official_torch.py', import.meta.url).pathname, official, String(width), String(batch), String(threads), String(px)], { encoding: 'utf8' });
        if (r.status !== 0) { console.error(`official run failed: ${r.stderr.slice(-2000)}`); break; }
        theirs.push((JSON.parse(r.stdout) as Record<string, { train: number }>)[String(px)]!.train);
        if (round === 0) engine.resetPhases();
        ours.push(await time(async () => {
          const { grads, stats } = await engine.step(state.weights, x, (out) => lossOnArrays(out, { targets, masks }, config, hyp));
          const t = performance.now();
          state.sgd.step(grads, lr);
          foldBatchStats(state.weights, stats, ++state.bnUpdates);
          update += performance.now() - t;
          steps++;
        }, 2));
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      await engine.dispose();
      x.dispose();
      if (theirs.length === 0) continue;
      const spread = (v: number[]) => `${median(v).toFixed(0)} ms (${Math.min(...v).toFixed(0)}-${Math.max(...v).toFixed(0)})`;
      console.log(`${size} at ${px}: official ${spread(theirs)} | ours ${spread(ours)} = ${(median(ours) / median(theirs)).toFixed(2)}x official; our peak RSS ${(peak / 2 ** 30).toFixed(1)} GiB`);
      // Means over every step timed (warm-ups included), so they need not add up to the median.
      const phases = Object.entries(engine.phases).map(([k, v]) => `${k} ${(v / steps).toFixed(0)}`).join(', ');
      console.log(`  ours per step (mean ms): ${phases}, update (SGD + BN statistics) ${(update / steps).toFixed(0)}`);
    }
    model.dispose();
  }
}
