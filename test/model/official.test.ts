/**
 * Official YOLOv7-seg weights, fixtures from the official code (scripts/official-fixtures.py:
 * yolov7-seg.yaml at width 0.0625, 3 classes, seeded random weights, BN statistics and
 * implicit vectors): imported from each file format, our tfjs and onnxruntime forwards equal
 * the official eval-mode outputs; our export loads back; hostile or broken files are refused.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel, weightArrays } from '../../src/model/tfjs.ts';
import { saveCheckpoint } from '../../src/model/checkpoint.ts';
import { initFromOfficial, readOfficialWeights } from '../../src/model/import.ts';
import { exportOfficial, importOfficial } from '../../src/model/official.ts';
import { formatSafetensors, parseSafetensors } from '../../src/model/formats/safetensors.ts';
import { parseTorchCheckpoint } from '../../src/model/formats/torch.ts';
import { readPickle } from '../../src/model/formats/pickle.ts';
import { openRuntime, outputArrays, type RawOutputs } from '../../src/infer/runtime.ts';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';
import { floats, type F32 } from '../helpers/official.ts';
import { tinyDataset } from '../helpers/tiny.ts';

const FIXTURES = new URL('../fixtures/official/', import.meta.url).pathname;
const io = JSON.parse(readFileSync(join(FIXTURES, 'io.json'), 'utf8')) as { input: F32; fp32: Record<string, F32>; fp16: Record<string, F32> };
const root = await tempDir();
before(() => setupBackend('cpu', { quiet: true }).then(() => undefined));

/** The fixture input (NCHW) as our NHWC. */
function inputNhwc(): Float32Array {
  const [n, c, h, w] = io.input.shape as [number, number, number, number];
  const x = floats(io.input), out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[(b * h * w + p) * c + ch] = x[(b * c + ch) * h * w + p]!;
  return out;
}

/** Largest |ours - official| over an output, ours NHWC, theirs NCHW, relative to the output's scale. */
function worstRelative(ours: RawOutputs, theirs: Record<string, F32>): number {
  let worst = 0;
  [...ours.heads, ours.proto].forEach((a, k) => {
    const ref = theirs[['p3', 'p4', 'p5', 'proto'][k]!]!;
    const [n, c, h, w] = ref.shape as [number, number, number, number];
    assert.deepEqual(a.shape, [n, h, w, c]);
    const r = floats(ref);
    let diff = 0, scale = 0;
    for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) {
      const theirsV = r[(b * c + ch) * h * w + p]!;
      diff = Math.max(diff, Math.abs(a.data[(b * h * w + p) * c + ch]! - theirsV));
      scale = Math.max(scale, Math.abs(theirsV));
    }
    worst = Math.max(worst, diff / scale);
  });
  return worst;
}

function tfjsOutputs(model: TfModel): RawOutputs {
  const [n, , h, w] = io.input.shape as [number, number, number, number];
  const x = tf.tensor4d(inputNhwc(), [n, h, w, 3]);
  const o = model.forward(x, false);
  const arrays = outputArrays(o);
  tf.dispose([x, ...o.heads, o.proto]);
  return arrays;
}

const newModel = () => { const c = modelConfig('w0.0625'); return new TfModel(buildYolov7Seg(c), c, 0); };

for (const [file, precision] of [['model.safetensors', 'fp32'], ['state-dict.pt', 'fp32'], ['model-fp16.pt', 'fp16']] as const) {
  test(`${file}: imported, our tfjs and onnxruntime forwards equal the official outputs`, async () => {
    const model = newModel();
    const log = await initFromOfficial(model, join(FIXTURES, file));
    assert.match(log.join('\n'), file === 'model-fp16.pt' ? /"ema" \(a pickled model\), Half/ : /init: .*: 469 tensors; the file has our classes/);
    const tfjs = worstRelative(tfjsOutputs(model), io[precision]);
    // Measured ~3e-7 relative: float32 summation order only.
    assert.ok(tfjs <= 1e-5, `tfjs vs official: ${tfjs}`);
    const dir = join(root, file);
    await saveCheckpoint(dir, model, { imgsz: 64, epoch: 0, metrics: {} });
    model.dispose();
    const onnx = await openRuntime(dir, 'onnx', { threads: 1 });
    const worst = worstRelative(await onnx.run(inputNhwc(), 2, 64), io[precision]);
    await onnx.dispose();
    assert.ok(worst <= 1e-5, `onnxruntime vs official: ${worst}`);
  });
}

test('export --format safetensors writes the official state dict; importing it gives our weights back exactly', async () => {
  const model = newModel();
  await initFromOfficial(model, join(FIXTURES, 'model.safetensors'));
  const ours = weightArrays(model);
  const exported = exportOfficial(ours, model.graph, model.config);
  // Exactly the official state dict's names and shapes (what a strict load_state_dict checks;
  // scripts/official-fixtures.py saved the real one as state-dict.pt).
  const official = (await readOfficialWeights(join(FIXTURES, 'state-dict.pt'))).tensors;
  assert.deepEqual([...exported.keys()].sort(), [...official.keys()].sort());
  for (const [name, t] of official) assert.deepEqual(exported.get(name)!.shape, t.shape, name);
  const back = importOfficial(parseSafetensors(formatSafetensors(exported), 'x.safetensors'), model.graph, model.config, ours, 'x.safetensors');
  for (const [name, v] of ours) assert.deepEqual(back.weights.get(name), v, name);
  model.dispose();
});

test('a COCO head (80 classes) keeps its box, objectness and mask rows; the class rows start fresh', () => {
  const model = newModel();
  const fresh = weightArrays(model);
  const tensors = parseSafetensors(readFileSync(join(FIXTURES, 'model.safetensors')), 'model.safetensors');
  const no = 5 + 3 + 32, coco = 5 + 80 + 32, anchors = 3;
  for (let k = 0; k < 3; k++) {
    const w = tensors.get(`model.105.m.${k}.weight`)!, b = tensors.get(`model.105.m.${k}.bias`)!;
    const c1 = w.shape[1]!;
    const w80 = new Float32Array(anchors * coco * c1), b80 = new Float32Array(anchors * coco);
    for (let a = 0; a < anchors; a++) for (let j = 0; j < coco; j++) {
      const src = j < 5 ? a * no + j : j >= 85 ? a * no + 8 + (j - 85) : -1; // class rows: fill below
      for (let c = 0; c < c1; c++) w80[(a * coco + j) * c1 + c] = src < 0 ? 7 : w.data[src * c1 + c]!;
      b80[a * coco + j] = src < 0 ? 7 : b.data[src]!;
    }
    tensors.set(`model.105.m.${k}.weight`, { shape: [anchors * coco, c1, 1, 1], data: w80 });
    tensors.set(`model.105.m.${k}.bias`, { shape: [anchors * coco], data: b80 });
  }
  const original = importOfficial(parseSafetensors(readFileSync(join(FIXTURES, 'model.safetensors')), 'm'), model.graph, model.config, fresh, 'm').weights;
  const { weights, report } = importOfficial(tensors, model.graph, model.config, fresh, 'coco.pt');
  assert.match(report.classRows, /the file has 80 classes, this model 3: box, objectness and mask-coefficient rows imported, class rows initialised fresh/);
  const bias = weights.get('head.detect0.bias')!, before = original.get('head.detect0.bias')!, init = fresh.get('head.detect0.bias')!;
  for (let a = 0; a < anchors; a++) for (let j = 0; j < no; j++) {
    const r = a * no + j;
    assert.equal(bias[r], j >= 5 && j < 8 ? init[r] : before[r], `row ${r}`);
  }
  model.dispose();
});

test('hostile, truncated and foreign files are refused with the file named, and nothing runs', async () => {
  // pickle protocol 2 of `posix.system('ls')`.
  const hostile = Uint8Array.from(Buffer.from('800263706f7369780a73797374656d0a710058020000006c7371018571025271032e', 'hex'));
  assert.throws(() => readPickle(hostile, 'evil.pkl'), /evil\.pkl: the pickle refers to the Python global posix\.system, which a PyTorch checkpoint does not need; refused \(nothing was executed\)/);
  const bytes = readFileSync(join(FIXTURES, 'state-dict.pt'));
  assert.throws(() => parseTorchCheckpoint(bytes.subarray(0, bytes.length - 5000), 'cut.pt'), /cut\.pt: /);
  assert.throws(() => parseTorchCheckpoint(Uint8Array.from(Buffer.from('not a checkpoint')), 'x.pt'), /x\.pt: not a zip-format PyTorch checkpoint/);
  assert.throws(() => parseSafetensors(Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0]), 'y.safetensors'), /y\.safetensors: header length 1 runs past the end/);
  const model = new TfModel(buildYolov7Seg(modelConfig('tiny')), modelConfig('tiny'), 0);
  await assert.rejects(initFromOfficial(model, join(FIXTURES, 'model.safetensors')), /a YOLOv7-seg of width 0\.0625 \(--model w0\.0625\); this run builds --model tiny .*give --model w0\.0625/);
  model.dispose();
});

test('vascseg import, then train --init from official weights', async () => {
  const out = join(root, 'imported');
  const r = await vascseg('import', join(FIXTURES, 'model-fp16.pt'), '--out', out);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*imported \(--model w0\.0625/);
  const data = join(root, 'tiny');
  await tinyDataset(data);
  const t = await vascseg('train', '--data', data, '--init', join(FIXTURES, 'model.safetensors'), '--model', 'w0.0625', '--imgsz', '64', '--epochs', '1', '--batch', '4', '--project', join(root, 'runs'), '--name', 'from-official', '--no-augment');
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /init: .*model\.safetensors \(safetensors\): 469 tensors/);
  const p = await vascseg('predict', '--weights', out, '--source', data, '--imgsz', '64', '--out', join(root, 'sub.csv'));
  assert.equal(p.code, 0, p.stderr);
  // Official weights predict directly too, imported in memory: the same submission.
  const direct = await vascseg('predict', '--weights', join(FIXTURES, 'model-fp16.pt'), '--source', data, '--imgsz', '64', '--out', join(root, 'direct.csv'));
  assert.equal(direct.code, 0, direct.stderr);
  assert.equal(readFileSync(join(root, 'direct.csv'), 'utf8'), readFileSync(join(root, 'sub.csv'), 'utf8'));
});
