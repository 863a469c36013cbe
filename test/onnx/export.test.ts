import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { saveCheckpoint } from '../../src/model/checkpoint.ts';
import { exportOnnx, readOnnxInfo } from '../../src/onnx/export.ts';
import { OnnxRuntime, TfjsRuntime, openRuntime, type RawOutputs } from '../../src/infer/runtime.ts';
import { weightArrays } from '../../src/model/tfjs.ts';
import { DEFAULT_PREDICT, predictTile } from '../../src/infer/predict.ts';
import { imageToInput } from '../../src/infer/preprocess.ts';
import { readRgb } from '../../src/data/images.ts';
import { REFERENCE_DIR } from '../../src/reference/build.ts';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';

await setupBackend('wasm', { quiet: true });
const config = modelConfig('tiny');
const model = new TfModel(buildYolov7Seg(config), config, 5);
// Running statistics away from (0, 1), so the export's batch-norm folding is exercised.
tf.tidy(() => {
  for (const [name, v] of model.weights) {
    if (name.endsWith('.mean')) v.assign(tf.randomUniform(v.shape, -0.2, 0.2, 'float32', 1));
    if (name.endsWith('.var')) v.assign(tf.randomUniform(v.shape, 0.3, 2, 'float32', 2));
    if (name.endsWith('.gamma')) v.assign(tf.randomUniform(v.shape, 0.5, 1.5, 'float32', 3));
    if (name.endsWith('.beta')) v.assign(tf.randomUniform(v.shape, -0.3, 0.3, 'float32', 4));
  }
});
// Masks of an untrained model hover at probability 0.5; give it positive prototypes in one
// channel and mask coefficients with a positive bias, so instances have masks.
tf.tidy(() => {
  const gamma = Float32Array.from(model.weights.get('head.proto.cv3.gamma')!.dataSync());
  const beta = Float32Array.from(model.weights.get('head.proto.cv3.beta')!.dataSync());
  gamma[0] = 0; beta[0] = 1;
  model.weights.get('head.proto.cv3.gamma')!.assign(tf.tensor1d(gamma));
  model.weights.get('head.proto.cv3.beta')!.assign(tf.tensor1d(beta));
  for (let level = 0; level < 3; level++) {
    const bias = model.weights.get(`head.detect${level}.bias`)!;
    const values = Float32Array.from(bias.dataSync());
    for (let a = 0; a < 3; a++) values[a * 40 + 8] = 3;
    bias.assign(tf.tensor1d(values));
  }
});
const info = { format: 'vascseg-yolov7-seg-onnx/1' as const, config, imgsz: 256, epoch: 3, metrics: { ap60: 0.5 } };
const tiles = await Promise.all(['trn_img_0006ff2aa7cd.png', 'tst_img_72e40acccadf.png'].map((f) => readRgb(join(REFERENCE_DIR, f), { width: 512, height: 512 }, f)));

function maxDiff(a: RawOutputs, b: RawOutputs): number {
  let worst = 0;
  [...a.heads, a.proto].forEach((t, k) => {
    const u = [...b.heads, b.proto][k]!;
    assert.deepEqual(t.shape, u.shape);
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - u.data[i]!));
  });
  return worst;
}

test('ONNX export runs in onnxruntime and matches tfjs on real tiles (max abs diff <= 1e-4)', async () => {
  const onnx = await OnnxRuntime.create(exportOnnx(model.graph, weightArrays(model), info), config, 256);
  const tfjs = new TfjsRuntime(model, 256);
  for (const size of [256, 320]) {
    const input = new Float32Array(2 * size * size * 3);
    tiles.forEach((t, k) => input.set(imageToInput(t, size), k * size * size * 3));
    const a = await tfjs.run(input, 2, size), b = await onnx.run(input, 2, size);
    assert.deepEqual(b.heads.map((h) => h.shape), [[2, size / 8, size / 8, 120], [2, size / 16, size / 16, 120], [2, size / 32, size / 32, 120]]);
    const d = maxDiff(a, b);
    assert.ok(d <= 1e-4, `size ${size}: max abs diff ${d}`);
  }
  await onnx.dispose();
});

test('vascseg export writes a model predict reads; both runtimes predict the same vessels', async () => {
  const dir = await tempDir();
  await saveCheckpoint(join(dir, 'best'), model, { imgsz: 256, epoch: 3, metrics: { ap60: 0.5 } });
  const r = await vascseg('export', '--weights', join(dir, 'best'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /best\.onnx \(\d+\.\d MB, ONNX opset 16\)/);
  const file = join(dir, 'best.onnx');
  assert.deepEqual((await readOnnxInfo(file)).metrics, { ap60: 0.5 });
  const fromFile = await openRuntime(file, 'onnx');
  const fromCheckpoint = await openRuntime(join(dir, 'best'), 'tfjs');
  const opts = { ...DEFAULT_PREDICT, imgsz: 256, conf: 1e-4, maxDet: 100 };
  const a = await predictTile([fromFile], tiles[0]!, opts), b = await predictTile([fromCheckpoint], tiles[0]!, opts);
  assert.ok(a.length > 0, 'predicts vessels');
  assert.equal(a.length, b.length);
  a.forEach((p, k) => assert.ok(Math.abs(p.score - b[k]!.score) < 1e-4));
  await fromFile.dispose();

  await writeFile(join(dir, 'bad.onnx'), 'not a model');
  await assert.rejects(readOnnxInfo(join(dir, 'bad.onnx')), /bad\.onnx: not an ONNX model/);
  await assert.rejects(openRuntime(file, 'tfjs'), /needs --runtime onnx/);
  const half = join(dir, 'half.onnx');
  await writeFile(half, (await readFile(file)).subarray(0, 1000));
  await assert.rejects(openRuntime(half, 'onnx'), /half\.onnx/);
});
