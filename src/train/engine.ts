import type { tf } from '../engine/backend.ts';
import type { BatchStats } from '../model/tfjs.ts';
import type { PlainLossFunction } from './loss.ts';
import type { PlainWeights } from './weights.ts';

export const ENGINES = ['onnx', 'tfjs'] as const;
export type EngineName = (typeof ENGINES)[number];

/** One step's loss parts, every trainable weight's gradient, and the batch statistics of each BN layer. */
export interface StepResult {
  /** Keyed by weight name, in the plain layout (kernels OIHW): fresh arrays the caller owns. */
  grads: Map<string, Float32Array>;
  parts: [number, number, number, number];
  stats: BatchStats[];
}

/**
 * What computes a training step's gradients from the current weights. The optimiser, EMA,
 * running statistics and checkpoints stay the trainer's, so a checkpoint is the same whichever
 * engine trained it.
 */
export interface TrainEngine {
  /** Milliseconds spent in each part of the steps so far (`VASCSEG_TIMINGS` and bench:engine print them). */
  readonly phases: Record<string, number>;
  resetPhases(): void;
  step(weights: PlainWeights, input: tf.Tensor4D, loss: PlainLossFunction): Promise<StepResult>;
  dispose(): Promise<void>;
}

export function resetPhases(phases: Record<string, number>): void {
  for (const k of Object.keys(phases)) phases[k] = 0;
}
