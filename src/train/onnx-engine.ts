import type * as Ort from 'onnxruntime-node';
import { tf } from '../engine/backend.ts';
import type { Graph } from '../model/graph.ts';
import type { ModelOutputs, TfModel } from '../model/tfjs.ts';
import { ort } from '../infer/runtime.ts';
import { hwioToOihw, oihwToHwio } from '../model/layout.ts';
import { backwardModel, forwardTrainingModel, OUTPUT_NAMES, weightSpecs, type WeightSpec } from '../onnx/train-graph.ts';

export const ENGINES = ['onnx', 'tfjs'] as const;
export type EngineName = (typeof ENGINES)[number];

/** Loss parts as plain numbers, and the loss's gradient with respect to each model output. */
export interface StepResult {
  /** Gradients in the tfjs model's layout (kernels HWIO), keyed by weight name. */
  grads: Map<string, tf.Tensor>;
  parts: [number, number, number, number];
}

export type LossFunction = (out: ModelOutputs) => { total: tf.Scalar; box: tf.Scalar; obj: tf.Scalar; cls: tf.Scalar; seg: tf.Scalar };


/**
 * Training steps on onnxruntime: the generated forward graph (training-mode BN) runs the
 * network, the tfjs loss (the same code as the tfjs engine) gives the gradient of the loss with
 * respect to the network's outputs, and the generated backward graph turns it into every
 * weight's gradient. The optimiser, EMA and checkpoints stay the trainer's, so checkpoints are
 * the same whichever engine trained them. Sessions are built once per batch size (0.3-1 s).
 */
export class OnnxTrainEngine {
  private readonly sessions = new Map<number, Promise<{ forward: Ort.InferenceSession; backward: Ort.InferenceSession }>>();
  private readonly specs: WeightSpec[];
  /** Milliseconds spent in each part of the steps so far (`VASCSEG_TIMINGS` and bench:engine print them). */
  readonly phases = { feed: 0, forward: 0, loss: 0, backward: 0, grads: 0 };

  resetPhases(): void {
    for (const k of Object.keys(this.phases) as (keyof OnnxTrainEngine['phases'])[]) this.phases[k] = 0;
  }

  constructor(private readonly graph: Graph, private readonly imgsz: number, private readonly threads = 0) {
    this.specs = weightSpecs(graph);
  }

  private session(batch: number) {
    let s = this.sessions.get(batch);
    if (!s) {
      s = (async () => {
        const api = await ort();
        const shape = { batch, height: this.imgsz, width: this.imgsz };
        // No spinning: onnxruntime's idle threads would otherwise busy-wait through the loss and
        // the batch workers that run between the two graphs (w0.125 at 256 px, batch 4: a step
        // of 238 ms against 251 with spinning, the medians of three runs of each: 236-278 and 249-273).
        const options: Ort.InferenceSession.SessionOptions = {
          executionProviders: ['cpu'], intraOpNumThreads: this.threads, graphOptimizationLevel: 'all',
          extra: { session: { intra_op: { allow_spinning: '0' } } },
        };
        return {
          forward: await api.InferenceSession.create(forwardTrainingModel(this.graph, shape), options),
          backward: await api.InferenceSession.create(backwardModel(this.graph, shape), options),
        };
      })();
      this.sessions.set(batch, s);
    }
    return s;
  }

  /** One step's loss and gradients; also leaves the batch statistics with the model for its running averages. */
  async step(model: TfModel, input: tf.Tensor4D, loss: LossFunction): Promise<StepResult> {
    const api = await ort();
    const [batch, h, w] = input.shape;
    if (h !== this.imgsz || w !== this.imgsz) throw new Error(`onnx engine built for ${this.imgsz} px, got ${w}x${h}`);
    const { forward, backward } = await this.session(batch);
    let mark = performance.now();
    const lap = (phase: keyof OnnxTrainEngine['phases']) => { const now = performance.now(); this.phases[phase] += now - mark; mark = now; };
    // (dataSync outside tidy: tidy walks whatever it returns, element by element for typed arrays.)
    const transposed = tf.transpose(input, [0, 3, 1, 2]);
    const nchw = transposed.dataSync() as Float32Array;
    transposed.dispose();
    const feeds: Record<string, Ort.Tensor> = { images: new api.Tensor('float32', nchw, [batch, 3, h, w]) };
    for (const s of this.specs) {
      const data = model.weights.get(s.name)!.dataSync() as Float32Array;
      feeds[s.name] = new api.Tensor('float32', s.dims.length === 4 ? hwioToOihw(data, s.dims) : data, s.dims);
    }
    lap('feed');
    const fwd = await forward.run(feeds);
    lap('forward');
    const outputs = OUTPUT_NAMES.map((n) => tf.tensor4d(fwd[n]!.data as Float32Array, fwd[n]!.dims.map(Number) as [number, number, number, number]));
    let parts: StepResult['parts'] = [0, 0, 0, 0];
    const dOut = tf.tidy(() => tf.grads((...outs: tf.Tensor[]) => {
      const l = loss({ heads: outs.slice(0, 3) as tf.Tensor4D[], proto: outs[3] as tf.Tensor4D });
      parts = [l.box, l.obj, l.cls, l.seg].map((t) => t.dataSync()[0]!) as StepResult['parts'];
      return l.total;
    })(outputs));
    OUTPUT_NAMES.forEach((n, k) => { feeds[`grad.${n}`] = new api.Tensor('float32', dOut[k]!.dataSync() as Float32Array, dOut[k]!.shape); });
    tf.dispose([...outputs, ...dOut]);
    lap('loss');
    const bwd = await backward.run(feeds);
    lap('backward');
    const grads = new Map<string, tf.Tensor>();
    for (const s of this.specs) {
      const g = bwd[`grad.${s.name}`]!.data as Float32Array;
      grads.set(s.name, s.dims.length === 4 ? tf.tensor4d(oihwToHwio(g, s.dims), [s.dims[2]!, s.dims[3]!, s.dims[1]!, s.dims[0]!]) : tf.tensor1d(g));
    }
    model.setBatchStats(this.graph.layers.filter((l) => l.op === 'conv' && l.bn).map((l) => ({
      name: l.name,
      mean: tf.tensor1d(fwd[`${l.name}.mean`]!.data as Float32Array),
      variance: tf.tensor1d(fwd[`${l.name}.var`]!.data as Float32Array),
    })));
    lap('grads');
    return { grads, parts };
  }

  async dispose(): Promise<void> {
    for (const s of this.sessions.values()) {
      const { forward, backward } = await s;
      await forward.release();
      await backward.release();
    }
    this.sessions.clear();
  }
}
