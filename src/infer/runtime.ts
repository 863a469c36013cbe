import { readFile } from 'node:fs/promises';
import { tf } from '../engine/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { weightArrays, type ModelOutputs, type TfModel } from '../model/tfjs.ts';
import { isOfficialWeights, officialModel, OFFICIAL_IMGSZ } from '../model/import.ts';
import { CLASSES } from '../model/yolov7seg.ts';
import type { ModelConfig } from '../model/yolov7seg.ts';
import { exportOnnx, onnxInfoFromCheckpoint, readOnnxInfo } from '../onnx/export.ts';
import { transposeInput, type Layout } from './preprocess.ts';
import { OnnxRuntime, type OnnxModel, type OnnxRuntimeOptions } from './onnx-runtime.ts';

export { OnnxRuntime, ort, type OnnxModel, type OnnxRuntimeOptions } from './onnx-runtime.ts';

/** A float32 array with its NHWC shape. */
export interface Array4 {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** Raw network outputs as plain arrays (NHWC), whatever ran the network. */
export interface RawOutputs {
  heads: Array4[];
  proto: Array4;
}

export const RUNTIMES = ['tfjs', 'onnx'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** Something that runs the network: the tfjs interpreter or an onnxruntime session. */
export interface Runtime {
  readonly name: RuntimeName;
  readonly config: ModelConfig;
  /** The image size the model was trained at. */
  readonly imgsz: number;
  /** The input layout it runs without a copy (`prepareTile` writes it directly). */
  readonly layout: Layout;
  /** Run on a batch of images: RGB scaled to 0..1, [n, size, size, 3] (`nhwc`, the default) or [n, 3, size, size] (`nchw`). */
  run(input: Float32Array, n: number, size: number, layout?: Layout): Promise<RawOutputs>;
  dispose(): Promise<void>;
}

/** Copy a tfjs model's outputs into plain arrays (the tensors stay alive: the caller disposes). */
export function outputArrays(out: ModelOutputs): RawOutputs {
  const copy = (t: tf.Tensor4D): Array4 => ({ data: t.dataSync() as Float32Array, shape: t.shape as [number, number, number, number] });
  return { heads: out.heads.map(copy), proto: copy(out.proto) };
}

export class TfjsRuntime implements Runtime {
  readonly name = 'tfjs';
  readonly layout = 'nhwc';
  constructor(readonly model: TfModel, readonly imgsz: number) {}

  get config(): ModelConfig {
    return this.model.config;
  }

  async run(input: Float32Array, n: number, size: number, layout: Layout = 'nhwc'): Promise<RawOutputs> {
    const x = tf.tensor4d(layout === 'nhwc' ? input : transposeInput(input, n, size, 'nchw'), [n, size, size, 3]);
    const out = this.model.predict(x);
    x.dispose();
    try {
      return outputArrays(out);
    } finally {
      tf.dispose([...out.heads, out.proto]);
    }
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

/**
 * Open a model for prediction. `weights` is a checkpoint directory or an exported `.onnx`
 * file. With the onnx runtime a checkpoint is exported in memory (it takes well under a
 * second), so checkpoints and exported models are interchangeable.
 */
export async function openRuntime(weights: string, runtime: RuntimeName, options: OnnxRuntimeOptions = {}): Promise<Runtime> {
  if (runtime === 'onnx') {
    const m = await openOnnxModel(weights);
    return OnnxRuntime.create(m.model, m.config, m.imgsz, options);
  }
  if (weights.endsWith('.onnx')) throw new Error(`${weights}: an ONNX model needs --runtime onnx`);
  if (isOfficialWeights(weights)) return new TfjsRuntime((await officialModel(weights, CLASSES)).model, OFFICIAL_IMGSZ);
  const { model, meta, extra } = await loadCheckpoint(weights);
  tf.dispose([...extra.values()]);
  return new TfjsRuntime(model, meta.imgsz);
}

/**
 * Weights as an ONNX model, without opening a session: an exported `.onnx` file as it is, a
 * checkpoint or official YOLOv7-seg weights exported in memory (official ones imported as
 * `vascseg import` would). What `openRuntime` opens, and what tile workers open sessions of.
 */
export async function openOnnxModel(weights: string): Promise<OnnxModel> {
  if (weights.endsWith('.onnx')) {
    const info = await readOnnxInfo(weights);
    return { model: await readFile(weights), config: info.config, imgsz: info.imgsz };
  }
  if (isOfficialWeights(weights)) {
    const { model } = await officialModel(weights, CLASSES);
    const bytes = exportOnnx(model.graph, weightArrays(model), { format: 'vascseg-yolov7-seg-onnx/1', config: model.config, imgsz: OFFICIAL_IMGSZ, epoch: 0, metrics: {} });
    model.dispose();
    return { model: bytes, config: model.config, imgsz: OFFICIAL_IMGSZ };
  }
  const { model, meta, extra } = await loadCheckpoint(weights);
  tf.dispose([...extra.values()]);
  const bytes = exportOnnx(model.graph, weightArrays(model), onnxInfoFromCheckpoint(meta));
  model.dispose();
  return { model: bytes, config: meta.config, imgsz: meta.imgsz };
}
