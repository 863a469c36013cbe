import { readFile } from 'node:fs/promises';
import { tf } from '../engine/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { weightArrays, type ModelOutputs, type TfModel } from '../model/tfjs.ts';
import { isOfficialWeights, officialModel, OFFICIAL_IMGSZ } from '../model/import.ts';
import { CLASSES } from '../model/yolov7seg.ts';
import type { ModelConfig } from '../model/yolov7seg.ts';
import { exportOnnx, onnxInfoFromCheckpoint, readOnnxInfo, ONNX_INPUT, ONNX_OUTPUTS } from '../onnx/export.ts';
import type { Layout } from './preprocess.ts';

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

/** A batch of images from one layout to the other. */
export function transposeInput(input: Float32Array, n: number, size: number, from: Layout): Float32Array {
  const plane = size * size;
  const out = new Float32Array(input.length);
  for (let b = 0; b < n; b++) {
    const base = b * plane * 3;
    for (let c = 0; c < 3; c++) {
      const first = base + c * plane, last = base + c;
      if (from === 'nhwc') for (let p = 0; p < plane; p++) out[first + p] = input[last + p * 3]!;
      else for (let p = 0; p < plane; p++) out[last + p * 3] = input[first + p]!;
    }
  }
  return out;
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

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | undefined;

/** onnxruntime-node is loaded on first use: its native library is not needed by tfjs runs. */
export function ort(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').catch((e: Error) => {
    throw new Error(`onnxruntime-node failed to load (${e.message}); reinstall with \`npm ci\`, or use --runtime tfjs`);
  });
  return ortModule;
}

/**
 * onnxruntime session options. `threads` 0 lets onnxruntime use every core. Execution
 * providers: CUDA first when the user's onnxruntime-node has it (installed with
 * `--onnxruntime-node-install=cuda12`), CPU otherwise.
 */
export interface OnnxRuntimeOptions {
  threads?: number;
  provider?: 'cpu' | 'cuda';
}

export class OnnxRuntime implements Runtime {
  readonly name = 'onnx';
  /** The exported model takes NCHW, as ONNX image models do. */
  readonly layout = 'nchw';
  private constructor(
    private readonly session: import('onnxruntime-node').InferenceSession,
    private readonly ortApi: Ort,
    readonly config: ModelConfig,
    readonly imgsz: number,
  ) {}

  static async create(model: Uint8Array, config: ModelConfig, imgsz: number, options: OnnxRuntimeOptions = {}): Promise<OnnxRuntime> {
    const api = await ort();
    const session = await api.InferenceSession.create(model, {
      executionProviders: [options.provider ?? 'cpu'],
      intraOpNumThreads: options.threads ?? 0,
      graphOptimizationLevel: 'all',
    });
    return new OnnxRuntime(session, api, config, imgsz);
  }

  async run(input: Float32Array, n: number, size: number, layout: Layout = 'nhwc'): Promise<RawOutputs> {
    const nchw = layout === 'nchw' ? input : transposeInput(input, n, size, 'nhwc');
    const result = await this.session.run({ [ONNX_INPUT]: new this.ortApi.Tensor('float32', nchw, [n, 3, size, size]) });
    const get = (name: string): Array4 => {
      const t = result[name]!;
      return { data: t.data as Float32Array, shape: t.dims.map(Number) as [number, number, number, number] };
    };
    return { heads: ONNX_OUTPUTS.slice(0, 3).map(get), proto: get('proto') };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Open a model for prediction. `weights` is a checkpoint directory or an exported `.onnx`
 * file. With the onnx runtime a checkpoint is exported in memory (it takes well under a
 * second), so checkpoints and exported models are interchangeable.
 */
export async function openRuntime(weights: string, runtime: RuntimeName, options: OnnxRuntimeOptions = {}): Promise<Runtime> {
  if (weights.endsWith('.onnx')) {
    if (runtime !== 'onnx') throw new Error(`${weights}: an ONNX model needs --runtime onnx`);
    const info = await readOnnxInfo(weights);
    return OnnxRuntime.create(await readFile(weights), info.config, info.imgsz, options);
  }
  if (isOfficialWeights(weights)) {
    // Official YOLOv7-seg weights predict directly (imported in memory, as `vascseg import` would).
    const { model } = await officialModel(weights, CLASSES);
    if (runtime === 'tfjs') return new TfjsRuntime(model, OFFICIAL_IMGSZ);
    const bytes = exportOnnx(model.graph, weightArrays(model), { format: 'vascseg-yolov7-seg-onnx/1', config: model.config, imgsz: OFFICIAL_IMGSZ, epoch: 0, metrics: {} });
    model.dispose();
    return OnnxRuntime.create(bytes, model.config, OFFICIAL_IMGSZ, options);
  }
  const { model, meta, extra } = await loadCheckpoint(weights);
  tf.dispose([...extra.values()]);
  if (runtime === 'tfjs') return new TfjsRuntime(model, meta.imgsz);
  const bytes = exportOnnx(model.graph, weightArrays(model), onnxInfoFromCheckpoint(meta));
  model.dispose();
  return OnnxRuntime.create(bytes, meta.config, meta.imgsz, options);
}
