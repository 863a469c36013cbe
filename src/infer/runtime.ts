import { readFile } from 'node:fs/promises';
import { tf } from '../engine/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { weightArrays, type ModelOutputs, type TfModel } from '../model/tfjs.ts';
import { isOfficialWeights, officialModel, OFFICIAL_IMGSZ } from '../model/import.ts';
import { CLASSES } from '../model/yolov7seg.ts';
import type { ModelConfig } from '../model/yolov7seg.ts';
import { exportOnnx, onnxInfoFromCheckpoint, readOnnxInfo, ONNX_INPUT, ONNX_OUTPUTS } from '../onnx/export.ts';

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
  /** Run on a batch of images: `nhwc` holds [n, size, size, 3] RGB scaled to 0..1. */
  run(nhwc: Float32Array, n: number, size: number): Promise<RawOutputs>;
  dispose(): Promise<void>;
}

/** Copy a tfjs model's outputs into plain arrays (the tensors stay alive: the caller disposes). */
export function outputArrays(out: ModelOutputs): RawOutputs {
  const copy = (t: tf.Tensor4D): Array4 => ({ data: t.dataSync() as Float32Array, shape: t.shape as [number, number, number, number] });
  return { heads: out.heads.map(copy), proto: copy(out.proto) };
}

export class TfjsRuntime implements Runtime {
  readonly name = 'tfjs';
  constructor(readonly model: TfModel, readonly imgsz: number) {}

  get config(): ModelConfig {
    return this.model.config;
  }

  async run(nhwc: Float32Array, n: number, size: number): Promise<RawOutputs> {
    const x = tf.tensor4d(nhwc, [n, size, size, 3]);
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

  async run(nhwc: Float32Array, n: number, size: number): Promise<RawOutputs> {
    // The exported model takes NCHW, as ONNX image models do.
    const plane = size * size;
    const nchw = new Float32Array(nhwc.length);
    for (let b = 0; b < n; b++) {
      const base = b * plane * 3;
      for (let p = 0; p < plane; p++) {
        nchw[base + p] = nhwc[base + p * 3]!;
        nchw[base + plane + p] = nhwc[base + p * 3 + 1]!;
        nchw[base + 2 * plane + p] = nhwc[base + p * 3 + 2]!;
      }
    }
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
