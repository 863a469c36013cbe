import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { loadDataset, type Dataset } from '../data/dataset.ts';
import { expertFolds } from '../data/folds.ts';
import type { Annotation } from '../data/types.ts';
import { groundTruthTile } from '../eval/groundtruth.ts';
import { evaluateOid } from '../eval/metric.ts';
import { parseSubmission, type Detection } from '../eval/submission.ts';
import { DEFAULT_PREDICT } from '../infer/predict.ts';
import { openRuntime } from '../infer/runtime.ts';
import { predictTiles } from '../infer/tiles.ts';
import type { PipelineSummary } from '../pipeline/evaluate.ts';
import type { TrainOptions } from '../train/trainer.ts';
import { barChart, lineChart, prChart } from './charts.ts';
import { galleryTile, scoreTiles } from './gallery.ts';
import { Report } from './html.ts';
import { pathExists } from '../util/fs.ts';

/** Predictions drawn in the gallery: the seed predicts at 0.001, which would bury the tile. */
const GALLERY_MIN_SCORE = 0.25;

interface ResultRow { epoch: number; box: number; obj: number; cls: number; seg: number; ap60: number; coco: number }

async function readResults(file: string): Promise<ResultRow[]> {
  const rows = parse(await readFile(file, 'utf8'), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  return rows.map((r) => ({
    epoch: Number(r.epoch) + 1, box: Number(r['train/box_loss']), obj: Number(r['train/obj_loss']), cls: Number(r['train/cls_loss']),
    seg: Number(r['train/seg_loss']), ap60: Number(r['val/ap60']), coco: Number(r['val/coco_mask_ap']),
  }));
}

async function curves(report: Report, results: ResultRow[], prefix = ''): Promise<void> {
  const losses = results.flatMap((r) => (['box', 'obj', 'cls', 'seg'] as const).map((term) => ({ epoch: r.epoch, loss: r[term], term })));
  await report.chart(`${prefix}losses`, lineChart('training loss per term', losses, 'epoch', 'loss', 'term'));
  const val = results.filter((r) => Number.isFinite(r.ap60)).flatMap((r) => [{ epoch: r.epoch, AP: r.ap60, metric: 'AP@0.6' }, { epoch: r.epoch, AP: r.coco, metric: 'COCO mask AP' }]);
  if (val.length > 0) await report.chart(`${prefix}val-ap`, lineChart('validation AP per epoch', val, 'epoch', 'AP', 'metric'));
}

/** PR curve at IoU 0.6, AP by dataset and WSI, and the worst tiles first. */
async function predictionSection(report: Report, ds: Dataset, labels: ReadonlyMap<string, Annotation[]>, preds: ReadonlyMap<string, readonly Detection[]>, what: string): Promise<void> {
  const gt = new Map([...preds.keys()].map((id) => {
    const t = groundTruthTile(id, labels.get(id) ?? []);
    const meta = ds.tileById.get(id);
    if (meta) { t.dataset = meta.dataset; t.wsi = meta.sourceWsi; }
    return [id, t];
  }));
  const r = evaluateOid(gt, preds);
  report.heading(`Predictions: ${what}`);
  report.paragraph(`AP@0.6 ${r.ap.toFixed(4)} on ${r.tiles} tiles (${r.numGt} vessels, ${r.detections} detections): TP ${r.tp}, FP ${r.fp}, FN ${r.fn}.`);
  await report.chart('pr-curve', prChart('precision-recall at mask IoU 0.6', r.precision, r.recall));
  const groups = [...r.byDataset.map((g) => ({ ...g, group: `dataset ${g.group}` })), ...r.byWsi.map((g) => ({ ...g, group: `WSI ${g.group}` }))];
  await report.chart('ap-by-group', barChart('AP@0.6 by dataset and WSI', groups.map((g) => ({ group: g.group, AP: g.ap, kind: g.group.split(' ')[0]! })), 'group', 'AP', 'kind'));
  report.table(['group', 'tiles', 'AP@0.6', 'TP', 'FP', 'FN'], groups.map((g) => [g.group, g.tiles, g.ap, g.tp, g.fp, g.fn]));
  const worst = scoreTiles(labels, preds, GALLERY_MIN_SCORE).slice(0, 8);
  report.heading('Worst tiles first');
  report.paragraph(`True vessels outlined green, predictions with score >= ${GALLERY_MIN_SCORE} magenta; ranked by F1 at IoU 0.6 of those predictions.`);
  report.table(['tile', 'vessels', 'TP', 'FP', 'FN', 'F1', 'tile AP@0.6'], worst.map((t) => [t.id, t.vessels, t.tp, t.fp, t.fn, t.f1, Number.isNaN(t.ap) ? 'n/a' : t.ap]));
  for (const t of worst) await report.image(`tile-${t.id}`, await galleryTile(ds, t.id, labels.get(t.id) ?? [], preds.get(t.id) ?? [], GALLERY_MIN_SCORE), `${t.id}: F1 ${t.f1.toFixed(2)}, ${t.fn} missed, ${t.fp} false`);
}

/** Report of a `vascseg train` run directory: curves, and the best weights on the validation tiles. */
async function trainReport(dir: string, log: (line: string) => void): Promise<Report> {
  const args = JSON.parse(await readFile(join(dir, 'args.json'), 'utf8')) as TrainOptions;
  const report = new Report(dir, `vascseg train run ${dir}`);
  report.table(['setting', 'value'], [['data', args.data], ['model', args.model], ['imgsz', args.imgsz], ['epochs', args.epochs], ['batch', args.batch], ['optimizer', args.optimizer], ['lr0', args.lr0 ?? 'default'], ['engine', args.engine ?? 'tfjs'], ['fold', args.fold === undefined ? 'none' : `${args.fold} of ${args.folds}`]]);
  const results = await readResults(join(dir, 'results.csv'));
  report.heading('Training');
  await curves(report, results);
  report.table(['epoch', 'box', 'obj', 'cls', 'seg', 'val AP@0.6', 'val COCO mask AP'], results.map((r) => [r.epoch, r.box, r.obj, r.cls, r.seg, Number.isFinite(r.ap60) ? r.ap60 : '', Number.isFinite(r.coco) ? r.coco : '']));
  const weights = join(dir, 'weights', 'best');
  if (!(await pathExists(join(weights, 'model.json')))) return report;
  const ds = await loadDataset(args.data, { strict: true });
  let ids: string[];
  if (args.fold !== undefined) {
    const folds = expertFolds(ds, args.folds, args.foldSeed);
    ids = [...folds].filter(([, f]) => f === args.fold).map(([id]) => id);
  } else {
    ids = ds.tiles.filter((t) => args.trainDatasets.includes(t.dataset) && ds.labels.has(t.id)).map((t) => t.id);
  }
  ids = ids.filter((id) => ds.images.train.has(id)).sort().slice(0, 64);
  log(`predicting ${ids.length} ${args.fold !== undefined ? 'held-out' : 'training'} tiles with ${weights}`);
  const runtime = await openRuntime(weights, 'onnx');
  const preds = await predictTiles([runtime], ds, ids, 'train', { ...DEFAULT_PREDICT, imgsz: args.imgsz });
  await runtime.dispose();
  await predictionSection(report, ds, ds.labels, preds, `weights/best on ${args.fold !== undefined ? `held-out fold ${args.fold}` : 'the training tiles'}`);
  return report;
}

/** Report of a `vascseg pipeline` run: the stage table, AP per stage, pseudo labels, out-of-fold predictions. */
async function pipelineReport(dir: string): Promise<Report> {
  const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as PipelineSummary;
  const report = new Report(dir, `vascseg pipeline ${dir}`);
  report.heading('Stages');
  report.table(['stage', 'out-of-fold AP@0.6', 'hidden-truth AP@0.6', 'minutes'], [
    ...summary.rows.map((r) => [r.stage, r.oofAp ?? '', r.hiddenAp ?? '', r.seconds !== undefined ? r.seconds / 60 : '']),
    ['ensemble', 'n/a', summary.ensemble.hiddenAp ?? 'n/a', ''],
  ]);
  const train = summary.rows.filter((r) => r.kind === 'train');
  await report.chart('ap-by-stage', barChart('AP@0.6 by stage', train.flatMap((r) => [{ stage: r.stage, AP: r.oofAp ?? 0, on: 'dataset 1, out of fold' }, ...(r.hiddenAp !== undefined ? [{ stage: r.stage, AP: r.hiddenAp, on: 'dataset 3, hidden truth' }] : [])]), 'stage', 'AP', 'on'));
  const pseudo = summary.rows.filter((r) => r.pseudo);
  if (pseudo.length > 0) {
    report.heading('Pseudo labels');
    report.table(['stage', 'tiles predicted', 'tiles kept', 'instances', 'precision', 'recall'], pseudo.map((r) => [r.stage, r.pseudo!.tilesPredicted, r.pseudo!.tilesKept, r.pseudo!.instances, r.pseudo!.quality?.precision ?? 'n/a', r.pseudo!.quality?.recall ?? 'n/a']));
  }
  report.heading('Training curves (fold 0 of each stage)');
  const seg: { epoch: number; loss: number; stage: string }[] = [];
  for (const r of train) {
    const file = join(dir, r.stage, 'fold0', 'results.csv');
    if (await pathExists(file)) for (const row of await readResults(file)) seg.push({ epoch: row.epoch, loss: row.box + row.obj + row.cls + row.seg, stage: r.stage });
  }
  if (seg.length > 0) await report.chart('stage-losses', lineChart('training loss (sum of terms), fold 0', seg, 'epoch', 'loss', 'stage'));
  const last = train.at(-1);
  const oofFile = last ? join(dir, 'evaluate', `oof-${last.stage}.csv`) : '';
  if (last && (await pathExists(oofFile))) {
    const args = JSON.parse(await readFile(join(dir, last.stage, 'fold0', 'args.json'), 'utf8')) as TrainOptions;
    // The fine-tuning folds trained on the source dataset: its labels score the predictions.
    const ds = await loadDataset(args.data, { strict: true });
    const parsed = parseSubmission(await readFile(oofFile, 'utf8'), oofFile);
    await predictionSection(report, ds, ds.labels, new Map(parsed.tiles.map((t) => [t.id, t.detections])), `${last.stage}, out of fold`);
  }
  return report;
}

/** Write `report.html` (and its PNGs) for a train or pipeline run directory. */
export async function runReport(dir: string, log: (line: string) => void = () => {}): Promise<{ file: string; figures: string[] }> {
  let report: Report;
  if (await pathExists(join(dir, 'summary.json'))) report = await pipelineReport(dir);
  else if (await pathExists(join(dir, 'results.csv'))) report = await trainReport(dir, log);
  else throw new Error(`${dir}: neither a train run (results.csv) nor a pipeline run (summary.json)`);
  return { file: await report.write(), figures: report.figures };
}
