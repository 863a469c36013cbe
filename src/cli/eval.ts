import { Command, Option } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { loadGroundTruth, type GroundTruthTile } from '../eval/groundtruth.ts';
import { evaluateCoco, evaluateOid, type GroupResult, type OidResult } from '../eval/metric.ts';
import { readPredictions } from '../eval/predictions.ts';
import type { Detection } from '../eval/submission.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { parseInteger, SKIP_BAD_HELP, warnSkipped, numberIn, readIdList } from './options.ts';

interface EvalOptions {
  data: string;
  pred: string;
  metric: 'oid' | 'coco';
  iou?: number;
  ids?: string;
  dataset?: number;
  json: boolean;
  ignoreUnsure: boolean;
  curve?: string;
  skipBad: boolean;
}

const ap6 = (v: number) => (Number.isNaN(v) ? 'nan' : v.toFixed(6));

function groupLines(title: string, groups: GroupResult[]): string[] {
  if (groups.length === 0) return [];
  return [title, ...groups.map((g) => `  ${g.group.padEnd(11)} tiles ${String(g.tiles).padStart(5)}  AP ${ap6(g.ap)}  TP ${g.tp}  FP ${g.fp}  FN ${g.fn}`)];
}

export function evalCommand(): Command {
  return new Command('eval')
    .description("score predictions against a dataset's labels: the competition's AP for blood_vessel at mask IoU 0.6")
    .requiredOption('--data <dir>', 'dataset directory; ground truth from polygons.jsonl (tile_meta.csv, when present, for breakdowns); no images needed')
    .requiredOption('--pred <file>', 'predictions: Kaggle submission CSV, or COCO results JSON (.json)')
    .addOption(new Option('--metric <m>', 'oid: the competition\'s (Open Images style, all-point AP); coco: pycocotools mask AP').choices(['oid', 'coco']).default('oid'))
    .option('--iou <t>', 'IoU threshold (default 0.6 for oid; 0.50:0.05:0.95 for coco)', numberIn(0, 1, { openMin: true }))
    .option('--ids <file>', 'score only the tile ids listed in this file, one per line')
    .option('--dataset <n>', 'score only the tiles of this dataset number in tile_meta.csv (e.g. 1: the expert labels)', parseInteger)
    .option('--ignore-unsure', 'ignore detections whose best match is an unsure region instead of counting them as false positives', false)
    .option('--json', 'print one JSON object (ap, tp, fp, num_gt, breakdowns)', false)
    .option('--curve <file>', 'write the precision/recall curve as CSV (score,precision,recall)')
    .option('--skip-bad', SKIP_BAD_HELP, false)
    .action(async (opts: EvalOptions) => {
      const loaded = await loadGroundTruth(opts.data, { skipBad: opts.skipBad });
      warnSkipped(loaded.skipped ?? []);
      let gt: Map<string, GroundTruthTile> = loaded;
      const wanted = opts.ids ? await readIdList(opts.ids) : null; // a bad list fails before the predictions are read
      let tiles = await readPredictions(opts.pred);
      if (wanted) {
        const missing = [...wanted].filter((id) => !gt.has(id));
        if (missing.length > 0) throw new Error(`${opts.ids}: ${missing.length} listed tile ids have no labels in ${opts.data}: ${missing.slice(0, 5).join(', ')}`);
        gt = new Map([...gt].filter(([id]) => wanted.has(id)));
        tiles = tiles.filter((t) => wanted.has(t.id));
      }
      if (opts.dataset !== undefined) {
        gt = new Map([...gt].filter(([, t]) => t.dataset === opts.dataset));
        if (gt.size === 0) throw new Error(`${opts.data}: no labelled tiles of dataset ${opts.dataset} (tile_meta.csv gives each tile's dataset)`);
        tiles = tiles.filter((t) => gt.has(t.id));
      }
      for (const t of tiles) {
        const g = gt.get(t.id);
        if (g && (g.height !== t.height || g.width !== t.width)) throw new Error(`${opts.pred}: tile ${t.id} is predicted at ${t.width}x${t.height}, its labels are ${g.width}x${g.height}`);
      }
      const preds = new Map<string, Detection[]>(tiles.map((t) => [t.id, t.detections]));
      if (opts.metric === 'coco') {
        const r = evaluateCoco(gt, preds, opts.iou === undefined ? {} : { iouThresholds: [opts.iou] });
        const label = opts.iou === undefined ? 'mask AP@[.50:.95]' : `mask AP@${opts.iou}`;
        if (opts.json) console.log(JSON.stringify({ metric: 'coco', ap: r.ap, iou_thresholds: r.iouThresholds, ap_per_threshold: r.apPerThreshold, num_gt: r.numGt, tiles: r.tiles }, null, 2));
        else console.log(`${label} (coco): ${ap6(r.ap)}\n  per threshold: ${r.iouThresholds.map((t, k) => `${t.toFixed(2)} ${ap6(r.apPerThreshold[k]!)}`).join(', ')}`);
        return;
      }
      const r: OidResult = evaluateOid(gt, preds, { iouThreshold: opts.iou ?? 0.6, ignoreUnsure: opts.ignoreUnsure });
      if (opts.curve) {
        await writeFileAtomic(opts.curve, stringify(r.scores.map((s, k) => [s, r.precision[k], r.recall[k]]), { header: true, columns: ['score', 'precision', 'recall'] }));
      }
      if (opts.json) {
        console.log(JSON.stringify({
          metric: 'oid', iou: r.iouThreshold, ap: r.ap, tp: r.tp, fp: r.fp, fn: r.fn, num_gt: r.numGt,
          tiles: r.tiles, detections: r.detections, ignored: r.ignored, by_dataset: r.byDataset, by_wsi: r.byWsi,
        }, null, 2));
        return;
      }
      console.log(`AP@${r.iouThreshold}: ${ap6(r.ap)}`);
      console.log(`tiles ${r.tiles}, detections ${r.detections}${opts.ignoreUnsure ? ` (${r.ignored} on unsure regions ignored)` : ''}, vessels ${r.numGt}: TP ${r.tp}, FP ${r.fp}, FN ${r.fn}`);
      for (const line of [...groupLines('by dataset:', r.byDataset), ...groupLines('by WSI:', r.byWsi)]) console.log(line);
    });
}
