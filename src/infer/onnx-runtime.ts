/**
 * The onnxruntime side of `Runtime`, apart from the tfjs one so that a worker thread running
 * sessions of its own (`FinishPool.withNetworks`) loads neither tfjs nor the exporter.
 */
import type { ModelConfig } from '../model/yolov7seg.ts';
import { ONNX_INPUT, ONNX_OUTPUTS } from '../onnx/names.ts';
import { transposeInput, type Layout } from './preprocess.ts';
import type { Array4, RawOutputs, Runtime } from './runtime.ts';

/** An exported model as a session is opened from it: its bytes, config and trained image size. */
export interface OnnxModel { model: Uint8Array; config: ModelConfig; imgsz: number }

export type Ort = typeof import('onnxruntime-node');
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
