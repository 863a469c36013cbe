import type { Dataset } from '../data/dataset.ts';
import { expertFolds } from '../data/folds.ts';
import type { PredictOptions } from '../infer/predict.ts';
import type { PipelineConfig } from './config.ts';

/** The pipeline's prediction settings: the config's, at the training image size. */
export function predictOptions(c: PipelineConfig): PredictOptions {
  return { imgsz: c.imgsz, ...c.predict };
}

/** The dataset-1 folds the trainer uses (same tiles, k and seed give the same split). */
export function pipelineFolds(ds: Dataset, c: PipelineConfig): Map<string, number> {
  return expertFolds(ds, c.folds, c.foldSeed);
}
