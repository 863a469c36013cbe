import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.ts';
import { expertFolds } from '../data/folds.ts';
import type { PredictOptions } from '../infer/predict.ts';
import { openRuntime, type Runtime } from '../infer/runtime.ts';
import type { PipelineConfig } from './config.ts';
import { foldWeights, stageFolds, type TrainStage } from './stages.ts';

/** The pipeline's prediction settings: the config's, at the training image size. */
export function predictOptions(c: PipelineConfig): PredictOptions {
  return { imgsz: c.imgsz, ...c.predict };
}

/** Open the fold models of a training stage (all of them, or the listed folds). */
export async function openFolds(root: string, stage: TrainStage, c: PipelineConfig, folds?: readonly number[]): Promise<{ fold: number; runtime: Runtime }[]> {
  const out: { fold: number; runtime: Runtime }[] = [];
  // predictTiles finishes tiles in one worker thread: leave it a core.
  const threads = Math.max(1, availableParallelism() - 1);
  for (const f of folds ?? stageFolds(stage, c)) out.push({ fold: f, runtime: await openRuntime(foldWeights(join(root, stage.name), f), 'onnx', { threads }) });
  return out;
}

export async function closeAll(models: readonly { runtime: Runtime }[]): Promise<void> {
  for (const m of models) await m.runtime.dispose();
}

/** The dataset-1 folds the trainer uses (same tiles, k and seed give the same split). */
export function pipelineFolds(ds: Dataset, c: PipelineConfig): Map<string, number> {
  return expertFolds(ds, c.folds, c.foldSeed);
}
