import type { PipelineConfig } from './config.ts';

/**
 * The seed's flow as a list of stages. Each stage reads the outputs of the stages it names in
 * `deps`; its identity (for skipping finished work) is its own settings plus the identities
 * of its inputs.
 */
export type Stage =
  | { kind: 'train'; name: string; deps: string[]; title: string;
      /** Dataset numbers that train; `data` is the source dataset or a pseudo stage's output. */
      trainDatasets: number[]; data: 'source' | string; init?: string; epochs: number;
      /** k folds of dataset 1 (fine-tuning), or one job validated on fold 0 (pretraining). */
      folds: 'all' | 'one' }
  | { kind: 'pseudo'; name: string; deps: string[]; title: string; models: string; round: number }
  | { kind: 'predict'; name: string; deps: string[]; title: string; models: string }
  | { kind: 'evaluate'; name: string; deps: string[]; title: string };

export type TrainStage = Extract<Stage, { kind: 'train' }>;

/**
 * 1 pretrain-ds2, 2 finetune-ds1 (k folds), then per pseudo round r: pseudo-r (label datasets
 * 2 and 3 with the previous fine-tuning's folds), pretrain-pseudo-r, finetune-ds1-(r+1); then
 * predict (the chosen folds of the last fine-tuning) and evaluate.
 */
export function planStages(config: PipelineConfig): Stage[] {
  const stages: Stage[] = [
    { kind: 'train', name: 'pretrain-ds2', deps: [], title: 'pretrain on dataset 2 (non-expert labels)', trainDatasets: [2], data: 'source', epochs: config.pretrainDs2.epochs, folds: 'one' },
    { kind: 'train', name: 'finetune-ds1', deps: ['pretrain-ds2'], title: 'fine-tune on dataset 1 (expert labels), k folds', trainDatasets: [1], data: 'source', init: 'pretrain-ds2', epochs: config.finetune.epochs, folds: 'all' },
  ];
  let finetune = 'finetune-ds1';
  for (let r = 1; r <= config.pseudo.rounds; r++) {
    const pseudo = `pseudo-${r}`, pretrain = `pretrain-pseudo-${r}`, next = `finetune-ds1-${r + 1}`;
    stages.push(
      { kind: 'pseudo', name: pseudo, deps: [finetune], title: `pseudo-label datasets ${config.pseudo.datasets.join(' and ')} with ${finetune}'s folds`, models: finetune, round: r },
      config.pretrainPseudo.init === 'scratch'
        ? { kind: 'train', name: pretrain, deps: [pseudo], title: `pretrain on the pseudo labels of round ${r}`, trainDatasets: config.pseudo.datasets, data: pseudo, epochs: config.pretrainPseudo.epochs, folds: 'one' }
        : { kind: 'train', name: pretrain, deps: [pseudo, 'pretrain-ds2'], title: `pretrain on the pseudo labels of round ${r}, from pretrain-ds2`, trainDatasets: config.pseudo.datasets, data: pseudo, init: 'pretrain-ds2', epochs: config.pretrainPseudo.epochs, folds: 'one' },
      { kind: 'train', name: next, deps: [pretrain], title: `fine-tune on dataset 1 from ${pretrain}, k folds`, trainDatasets: [1], data: 'source', init: pretrain, epochs: config.finetune.epochs, folds: 'all' },
    );
    finetune = next;
  }
  stages.push(
    { kind: 'predict', name: 'predict', deps: [finetune], title: `predict with folds ${config.ensembleFolds.join(', ')} of ${finetune}`, models: finetune },
    { kind: 'evaluate', name: 'evaluate', deps: stages.map((s) => s.name).concat('predict'), title: 'out-of-fold AP of every stage, the ensemble, pseudo-label quality' },
  );
  return stages;
}

/** The folds a training stage trains: every fold, or fold 0 held out for validation. */
export function stageFolds(stage: TrainStage, config: PipelineConfig): number[] {
  return stage.folds === 'all' ? Array.from({ length: config.folds }, (_, f) => f) : [0];
}

/** A training stage's checkpoint of a fold. */
export function foldWeights(stageDir: string, fold: number): string {
  return `${stageDir}/fold${fold}/weights/best`;
}
