import { tf } from '../engine/backend.ts';
import type { TfModel } from '../model/tfjs.ts';
import { resetPhases, type StepResult, type TrainEngine } from './engine.ts';
import { asTfLoss, type PlainLossFunction } from './loss.ts';
import { toPlain, writePlainWeights, type PlainWeights } from './weights.ts';

/**
 * Training steps by tfjs autograd on a tfjs model: the reference the onnx engine's gradients
 * are tested against, and the engine of runs saved before engines existed.
 */
export class TfjsTrainEngine implements TrainEngine {
  readonly phases = { step: 0 };
  private readonly names: string[];
  private readonly nameOf: Map<string, string>;

  constructor(private readonly model: TfModel) {
    const trainable = [...model.weights].filter(([, v]) => v.trainable);
    this.names = trainable.map(([name]) => name);
    this.nameOf = new Map(trainable.map(([name, v]) => [v.name, name]));
  }

  resetPhases(): void {
    resetPhases(this.phases);
  }

  async step(weights: PlainWeights, input: tf.Tensor4D, loss: PlainLossFunction): Promise<StepResult> {
    const mark = performance.now();
    writePlainWeights(this.model, weights, this.names);
    const grads = new Map<string, Float32Array>();
    let parts: StepResult['parts'] = [0, 0, 0, 0];
    const tfLoss = asTfLoss(loss);
    tf.tidy(() => {
      const r = tf.variableGrads(() => {
        const l = tfLoss(this.model.forward(input, true));
        parts = [l.box, l.obj, l.cls, l.seg].map((t) => t.dataSync()[0]!) as StepResult['parts'];
        return l.total;
      }, this.model.trainable);
      for (const [vname, g] of Object.entries(r.grads)) grads.set(this.nameOf.get(vname)!, toPlain(g));
    });
    const stats = this.model.takeBatchStats();
    this.phases.step += performance.now() - mark;
    return { grads, parts, stats };
  }

  async dispose(): Promise<void> {}
}
