import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.ts';
import { groundTruthTile } from '../eval/groundtruth.ts';
import { evaluateOid } from '../eval/metric.ts';
import { formatSubmission, parseSubmission } from '../eval/submission.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { tilePredictions } from '../infer/outputs.ts';
import type { Prediction } from '../infer/predict.ts';
import { groundTruthOf, loadHiddenTruth, type PseudoSummary } from '../pseudo/pseudo.ts';
import type { PipelineConfig } from './config.ts';
import { pipelineFolds } from './models.ts';
import type { PredictPart } from '../jobs/jobs.ts';
import { foldWeights, stageFolds, type Stage, type TrainStage } from './stages.ts';

/** One row of the ending table. */
export interface StageRow {
  stage: string;
  kind: Stage['kind'];
  title: string;
  /** Out-of-fold AP@0.6 on dataset 1: each expert tile predicted by the model that did not train on it. */
  oofAp?: number;
  /** AP@0.6 of the stage's ensemble on the never-labelled dataset-3 tiles against the synthetic hidden truth. */
  hiddenAp?: number;
  /** Change against the previous stage of the same role (pretraining, fine-tuning). */
  versus?: { stage: string; oof?: number; hidden?: number };
  pseudo?: PseudoSummary;
  seconds?: number;
}

export interface PipelineSummary {
  rows: StageRow[];
  ensemble: { folds: number[]; models: string; hiddenAp?: number; split: string; tiles: number };
  hiddenTruth: boolean;
  expertTiles: number;
  hiddenTiles: number;
  markdown: string;
}

interface EvaluateInput {
  root: string;
  data: string;
  source: Dataset;
  config: PipelineConfig;
  stages: Stage[];
  stageSeconds: Map<string, number>;
  log: (line: string) => void;
  /** Runs the predictions (through the pipeline's executor); answers one map per part, in order. */
  predict: (requests: PredictRequest[]) => Promise<Map<string, Prediction[]>[][]>;
}

/** Predictions a step needs: parts of (models, tiles), named for progress lines. */
export interface PredictRequest {
  label: string;
  parts: PredictPart[];
}

const submissionCsv = (preds: ReadonlyMap<string, Prediction[]>) =>
  formatSubmission([...preds].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, p]) => tilePredictions(id, p)));
const ap = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(4));
const delta = (v: number | undefined) => (v === undefined ? '' : `${v >= 0 ? '+' : ''}${v.toFixed(4)}${Math.abs(v) < 0.005 ? ' (no change)' : v > 0 ? ' (helped)' : ' (did not help)'}`);

function score(gtLabels: ReadonlyMap<string, import('../data/types.ts').Annotation[]>, preds: ReadonlyMap<string, Prediction[]>): number {
  const gt = groundTruthOf(gtLabels, preds.keys());
  return evaluateOid(gt, new Map([...preds].map(([id, p]) => [id, p.map((d) => ({ score: d.score, rle: d.rle }))]))).ap;
}

/**
 * Score every training stage: out-of-fold AP@0.6 on dataset 1 (k-fold stages: fold f's model
 * on fold f's tiles; pretraining stages never saw dataset 1, so their one model on all of
 * it) and, on synthetic data, AP@0.6 of the stage's ensemble on the dataset-3 tiles against
 * the hidden truth. The final ensemble cannot be scored out of fold on dataset 1 (every
 * expert tile trained all folds but one), so it is scored on the hidden truth only.
 */
export async function evaluateStages(input: EvaluateInput): Promise<PipelineSummary> {
  const { source: ds, config: c, root } = input;
  const foldOf = pipelineFolds(ds, c);
  const expertIds = [...foldOf.keys()].sort();
  const truth = await loadHiddenTruth(input.data);
  const hiddenIds = truth ? ds.tiles.filter((t) => t.dataset === 3 && ds.images.train.has(t.id) && truth.has(t.id)).map((t) => t.id).sort() : [];
  const trainStages = input.stages.filter((s): s is TrainStage => s.kind === 'train');
  // Every stage's predictions are asked for at once, so an executor with several workers
  // scores stages side by side. Per stage: one part per fold model (its out-of-fold tiles),
  // then the stage's ensemble on the hidden-truth tiles.
  const requests: PredictRequest[] = trainStages.map((t) => {
    const folds = stageFolds(t, c);
    const parts: PredictPart[] = folds.map((f) => ({ weights: [foldWeights(join(root, t.name), f)], ids: t.folds === 'all' ? expertIds.filter((id) => foldOf.get(id) === f) : expertIds }));
    const ensemble = t.folds === 'all' ? folds.filter((f) => c.ensembleFolds.includes(f)) : folds;
    if (truth && hiddenIds.length > 0) parts.push({ weights: ensemble.map((f) => foldWeights(join(root, t.name), f)), ids: hiddenIds });
    return { label: `score ${t.name}`, parts };
  });
  const answers = await input.predict(requests);
  const rows: StageRow[] = [];
  const lastOfRole = new Map<string, StageRow>();
  for (const stage of input.stages) {
    const row: StageRow = { stage: stage.name, kind: stage.kind, title: stage.title, seconds: input.stageSeconds.get(stage.name) };
    if (stage.kind === 'pseudo') {
      row.pseudo = JSON.parse(await readFile(join(root, stage.name, 'summary.json'), 'utf8')) as PseudoSummary;
    }
    if (stage.kind === 'train') {
      const t = stage as TrainStage;
      const parts = answers[trainStages.indexOf(t)]!;
      const folds = stageFolds(t, c).length;
      const oof = new Map<string, Prediction[]>();
      for (const m of parts.slice(0, folds)) for (const [id, p] of m) oof.set(id, p);
      row.oofAp = score(ds.labels, oof);
      // Kept for reports (PR curves, worst tiles) and for anyone who wants to re-score them.
      await writeFileAtomic(join(root, 'evaluate', `oof-${stage.name}.csv`), submissionCsv(oof));
      if (parts.length > folds) row.hiddenAp = score(truth!, parts[folds]!);
      const role = t.folds === 'all' ? 'finetune' : 'pretrain';
      const prev = lastOfRole.get(role);
      if (prev) row.versus = { stage: prev.stage, oof: row.oofAp - prev.oofAp!, hidden: row.hiddenAp !== undefined && prev.hiddenAp !== undefined ? row.hiddenAp - prev.hiddenAp : undefined };
      lastOfRole.set(role, row);
      input.log(`${stage.name}: out-of-fold AP@0.6 ${ap(row.oofAp)}${row.hiddenAp !== undefined ? `, hidden-truth AP@0.6 ${ap(row.hiddenAp)}` : ''}`);
    }
    if (stage.kind !== 'evaluate') rows.push(row);
  }
  const predictInfo = JSON.parse(await readFile(join(root, 'predict', 'predict.json'), 'utf8')) as { split: string; tiles: number; folds: number[]; models: string };
  const ensemble: PipelineSummary['ensemble'] = { folds: predictInfo.folds, models: predictInfo.models, split: predictInfo.split, tiles: predictInfo.tiles };
  if (truth && predictInfo.split === 'train') {
    const file = join(root, 'predict', 'submission.csv');
    const parsed = parseSubmission(await readFile(file, 'utf8'), file);
    const gt = new Map(parsed.tiles.map((t) => [t.id, groundTruthTile(t.id, truth.get(t.id) ?? [])]));
    ensemble.hiddenAp = evaluateOid(gt, new Map(parsed.tiles.map((t) => [t.id, t.detections]))).ap;
  }
  const summary = { rows, ensemble, hiddenTruth: truth !== null, expertTiles: expertIds.length, hiddenTiles: hiddenIds.length, markdown: '' };
  summary.markdown = summaryMarkdown(summary, c);
  return summary;
}

export function summaryMarkdown(s: Omit<PipelineSummary, 'markdown'>, c: PipelineConfig): string {
  const lines = [
    '# Pipeline summary',
    '',
    `AP@0.6 is the competition's metric (blood_vessel, mask IoU 0.6). Out-of-fold: each of the ${s.expertTiles} dataset-1 tiles predicted by a model that did not train on it.` +
      (s.hiddenTruth ? ` Hidden truth: the ${s.hiddenTiles} never-labelled dataset-3 tiles scored against the synthetic generator's truth, predicted by the stage's ensemble (folds ${c.ensembleFolds.join(', ')}).` : ' No hidden truth (real data): dataset-3 columns are n/a.'),
    '',
    '| stage | what | out-of-fold AP@0.6 (dataset 1) | hidden-truth AP@0.6 (dataset 3) | vs previous | pseudo labels | time |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of s.rows) {
    const versus = r.versus ? `vs ${r.versus.stage}: ${delta(r.versus.oof)} OOF${r.versus.hidden !== undefined ? `, ${delta(r.versus.hidden)} hidden` : ''}` : '';
    const p = r.pseudo;
    const pseudo = p ? `${p.tilesKept}/${p.tilesPredicted} tiles, ${p.instances} instances${p.quality ? `; precision ${p.quality.precision.toFixed(3)}, recall ${p.quality.recall.toFixed(3)}` : ''}` : '';
    const time = r.seconds !== undefined ? `${(r.seconds / 60).toFixed(1)} min` : '';
    lines.push(`| ${r.stage} | ${r.title} | ${r.kind === 'train' ? ap(r.oofAp) : ''} | ${r.kind === 'train' ? ap(r.hiddenAp) : ''} | ${versus} | ${pseudo} | ${time} |`);
  }
  lines.push(`| ensemble | folds ${s.ensemble.folds.join(', ')} of ${s.ensemble.models}, ${c.predict.ensemble.toUpperCase()}, ${c.predict.post} | n/a (every expert tile trained all folds but one) | ${ap(s.ensemble.hiddenAp)} | | | |`);
  lines.push('');
  const total = s.rows.reduce((a, r) => a + (r.seconds ?? 0), 0);
  lines.push(`Total stage time: ${(total / 60).toFixed(1)} min. Submission: \`predict/submission.csv\` (${s.ensemble.tiles} ${s.ensemble.split === 'test' ? 'test' : 'dataset-3'} tiles).`);
  return `${lines.join('\n')}\n`;
}
