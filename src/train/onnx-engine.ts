import type * as Ort from 'onnxruntime-node';
import { tf } from '../engine/backend.ts';
import type { Graph } from '../model/graph.ts';
import { ort } from '../infer/runtime.ts';
import { resetPhases, type StepResult, type TrainEngine } from './engine.ts';
import type { OutputArray, PlainLossFunction } from './loss.ts';
import type { PlainWeights } from './weights.ts';
import { backwardModel, bnStatNames, forwardTrainingModel, OUTPUT_NAMES, SAVE_CONV_MACS, savedConvs, weightSpecs, type WeightSpec } from '../onnx/train-graph.ts';

/**
 * Training steps on onnxruntime: the generated forward graph (training-mode BN) runs the
 * network and saves its widest convolutions' outputs, the loss (plain arrays, the same code as
 * the tfjs engine's) gives the gradient of the loss with respect to the network's outputs, and
 * the generated backward graph turns it into every weight's gradient without running those
 * convolutions again. Weights go in and gradients come out in the plain layout (ONNX's own), so
 * nothing is converted per step. Sessions are built once per batch size (0.3-1 s).
 */
interface Sessions {
  forward: Ort.InferenceSession;
  backward: Ort.InferenceSession;
  /**
   * The forward's outputs by name: the saved convolutions in buffers kept from step to step
   * (fresh ones would be paged in anew every step: the full model at 640 px, batch 4, saves 211 MiB),
   * the rest (heads, BN statistics, small and handed out of the step) null, for onnxruntime to allocate.
   */
  fetches: Record<string, Ort.Tensor | null>;
}

export class OnnxTrainEngine implements TrainEngine {
  private readonly sessions = new Map<number, Promise<Sessions>>();
  private readonly specs: WeightSpec[];
  /** The forward's BN batch statistics, which the backward takes as they are (`<layer>.mean`, `<layer>.var`). */
  private readonly bnStatNames: string[];
  /** Milliseconds spent in each part of the steps so far (`VASCSEG_TIMINGS` and bench:engine print them). */
  readonly phases = { feed: 0, forward: 0, loss: 0, backward: 0, grads: 0 };

  resetPhases(): void {
    resetPhases(this.phases);
  }

  /** `saveConvMacs`: which convolutions the forward saves for the backward (see `SAVE_CONV_MACS`). */
  constructor(private readonly graph: Graph, private readonly imgsz: number, private readonly threads = 0, private readonly saveConvMacs = SAVE_CONV_MACS) {
    this.specs = weightSpecs(graph);
    this.bnStatNames = bnStatNames(graph);
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
          // No memory pattern: its planned block comes on top of the arena's. Without it the full
          // model at 640 px, batch 4, holds 10.4 GiB (RSS after two steps) instead of 17.4 (with
          // bench:engine's other models beside it, 22 GB: killed by the OOM killer on this 24 GB
          // machine); the full model at 256 px 2.5 GiB instead of 3.8, w0.125 at 640 1.8 instead of 3.1, at the same
          // speed within the noise (full 256: 1,978 / 1,951 ms against 2,175 / 1,998; w0.125 640:
          // 942 / 912 against 885 / 875). Without the arena too, every step pays its page faults (18 s).
          enableMemPattern: false,
          extra: { session: { intra_op: { allow_spinning: '0' } } },
          // VASCSEG_ORT_PROFILE=PREFIX: onnxruntime writes each session's per-node trace to PREFIX*.json (bench:profile reads them).
          ...(process.env.VASCSEG_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.VASCSEG_ORT_PROFILE } : {}),
        };
        const forward = await api.InferenceSession.create(forwardTrainingModel(this.graph, shape, this.saveConvMacs), options);
        const fetches: Sessions['fetches'] = {};
        for (const name of forward.outputNames) fetches[name] = null;
        for (const c of savedConvs(this.graph, shape, this.saveConvMacs)) fetches[c.name] = new api.Tensor('float32', new Float32Array(c.dims.reduce((a, d) => a * d, 1)), c.dims);
        return { forward, backward: await api.InferenceSession.create(backwardModel(this.graph, shape, this.saveConvMacs), options), fetches };
      })();
      this.sessions.set(batch, s);
    }
    return s;
  }

  async step(weights: PlainWeights, input: tf.Tensor4D, loss: PlainLossFunction): Promise<StepResult> {
    const api = await ort();
    const [batch, h, w] = input.shape;
    if (h !== this.imgsz || w !== this.imgsz) throw new Error(`onnx engine built for ${this.imgsz} px, got ${w}x${h}`);
    const { forward, backward, fetches } = await this.session(batch);
    let mark = performance.now();
    const lap = (phase: keyof OnnxTrainEngine['phases']) => { const now = performance.now(); this.phases[phase] += now - mark; mark = now; };
    // (dataSync outside tidy: tidy walks whatever it returns, element by element for typed arrays.)
    const transposed = tf.transpose(input, [0, 3, 1, 2]);
    const nchw = transposed.dataSync() as Float32Array;
    transposed.dispose();
    const feeds: Record<string, Ort.Tensor> = { images: new api.Tensor('float32', nchw, [batch, 3, h, w]) };
    for (const s of this.specs) feeds[s.name] = new api.Tensor('float32', weights.get(s.name)!, s.dims);
    lap('feed');
    const fwd = await forward.run(feeds, fetches);
    lap('forward');
    const outputs = OUTPUT_NAMES.map((n): OutputArray => ({ data: fwd[n]!.data as Float32Array, shape: fwd[n]!.dims.map(Number) as OutputArray['shape'] }));
    const l = loss(outputs);
    const parts: StepResult['parts'] = [l.box, l.obj, l.cls, l.seg];
    OUTPUT_NAMES.forEach((n, k) => { feeds[`grad.${n}`] = new api.Tensor('float32', l.grads[k]!, outputs[k]!.shape); });
    for (const [name, saved] of Object.entries(fetches)) if (saved) feeds[name] = saved;
    for (const name of this.bnStatNames) feeds[name] = fwd[name]!;
    lap('loss');
    const bwd = await backward.run(feeds);
    lap('backward');
    const grads = new Map(this.specs.map((s) => [s.name, bwd[`grad.${s.name}`]!.data as Float32Array]));
    const stats = this.graph.layers.filter((l) => l.op === 'conv' && l.bn).map((l) => ({
      name: l.name,
      mean: fwd[`${l.name}.mean`]!.data as Float32Array,
      variance: fwd[`${l.name}.var`]!.data as Float32Array,
    }));
    lap('grads');
    return { grads, parts, stats };
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
