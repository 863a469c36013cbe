/**
 * tsx scripts/make-padding-fixture.ts OUT.json — digests of the tiny model's raw outputs
 * (seeded random weights and BN statistics, a fixed 64 px input) through the tfjs interpreter and through
 * onnxruntime. Run once at a commit from before padding became a model setting (the fixture
 * records which), it pins what `same`-padded checkpoints compute: the test rebuilds the same
 * model from a config without the field and must match.
 */
import { writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { setupBackend, tf } from '../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../src/model/yolov7seg.ts';
import { TfModel } from '../src/model/tfjs.ts';
import { mulberry32 } from '../src/util/stats.ts';
import { exportOnnx } from '../src/onnx/export.ts';
import { OnnxRuntime, outputArrays, type RawOutputs } from '../src/infer/runtime.ts';
import { weightArrays } from '../src/model/tfjs.ts';

export const PADDING_FIXTURE_SIZE = 64;

/** A deterministic input batch: two 64 px images of smooth patterns. */
export function paddingFixtureInput(): Float32Array {
  const s = PADDING_FIXTURE_SIZE, out = new Float32Array(2 * s * s * 3);
  for (let b = 0; b < 2; b++) for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) for (let c = 0; c < 3; c++) {
    out[((b * s + y) * s + x) * 3 + c] = 0.5 + 0.5 * Math.sin(0.3 * x + 0.17 * y * (c + 1) + b);
  }
  return out;
}

/** Per output: sum, sum of squares and every 97th value (enough to see a one-pixel shift). */
export function digest(out: RawOutputs): { shape: number[]; sum: number; sumSq: number; samples: number[] }[] {
  return [...out.heads, out.proto].map((a) => {
    let sum = 0, sumSq = 0;
    const samples: number[] = [];
    for (let k = 0; k < a.data.length; k++) { sum += a.data[k]!; sumSq += a.data[k]! ** 2; if (k % 97 === 0) samples.push(a.data[k]!); }
    return { shape: a.shape, sum, sumSq, samples };
  });
}

/**
 * Weights that make every output depend on its input (initial weights give near-constant
 * heads): kernels ~ U(-1, 1) * 1.5 / sqrt(fan-in), BN scale 0.5..1.5, shifts and running means
 * small, running variances 0.5..1.5, all from a seeded stream in layer order.
 */
export function randomizeWeights(model: TfModel, seed = 7): void {
  const rand = mulberry32(seed);
  for (const [name, v] of model.weights) {
    const n = v.size;
    const data = new Float32Array(n);
    const fanIn = v.shape.length === 4 ? v.shape[0]! * v.shape[1]! * v.shape[2]! : 1;
    for (let k = 0; k < n; k++) {
      const u = rand() * 2 - 1;
      data[k] = name.endsWith('.w') ? (u * 1.5) / Math.sqrt(fanIn)
        : name.endsWith('.gamma') || name.endsWith('.var') ? 1 + 0.5 * u
        : 0.1 * u;
    }
    v.assign(tf.tensor(data, v.shape));
  }
}

/** The tfjs interpreter's raw outputs on a [2, 64, 64, 3] batch, as plain arrays. */
export function tfjsOutputs(model: TfModel, input: Float32Array): RawOutputs {
  const x = tf.tensor4d(input, [2, PADDING_FIXTURE_SIZE, PADDING_FIXTURE_SIZE, 3]);
  const o = model.forward(x, false);
  const arrays = outputArrays(o);
  tf.dispose([x, ...o.heads, o.proto]);
  return arrays;
}

if (process.argv[1]?.endsWith('make-padding-fixture.ts')) {
  await setupBackend('cpu', { quiet: true });
  const config = modelConfig('tiny');
  delete (config as { padding?: string }).padding;
  const model = new TfModel(buildYolov7Seg(config), config, 0);
  randomizeWeights(model);
  const input = paddingFixtureInput();
  const tfOut = tfjsOutputs(model, input);
  const onnx = await OnnxRuntime.create(exportOnnx(model.graph, weightArrays(model), { format: 'vascseg-yolov7-seg-onnx/1', config, imgsz: PADDING_FIXTURE_SIZE, epoch: 0, metrics: {} }), config, PADDING_FIXTURE_SIZE, { threads: 1 });
  const onnxOut = await onnx.run(input, 2, PADDING_FIXTURE_SIZE);
  const commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  writeFileSync(process.argv[2]!, JSON.stringify({ commit, tfjs: digest(tfOut), onnx: digest(onnxOut) }));
  console.log(`wrote ${process.argv[2]} at ${commit}`);
}
