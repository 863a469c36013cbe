import { rleIntersection } from './rle.ts';
import { toRegion, type GroundTruthTile, type Region } from './groundtruth.ts';
import type { Detection } from './submission.ts';

/**
 * The competition's score: Open Images style AP for `blood_vessel` at mask IoU >= 0.6,
 * and COCO mask AP (pycocotools' rules) for comparison.
 *
 * Ties in confidence are ranked in a fixed order: tiles by id, then each tile's detections
 * in the order given (a stable sort, as pycocotools' mergesort). AP only depends on this
 * order when a true and a false positive share the exact same confidence.
 */

function boxesOverlap(a: Region['box'], b: Region['box']): boolean {
  return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
}

export function regionIou(a: Region, b: Region): number {
  if (!boxesOverlap(a.box, b.box)) return 0;
  const inter = rleIntersection(a.rle, b.rle);
  const union = a.area + b.area - inter;
  return union === 0 ? 0 : inter / union;
}

/** Detections of one tile, highest confidence first (stable). */
function rankedRegions(detections: readonly Detection[]): { score: number; region: Region }[] {
  return detections
    .map((d, k) => ({ score: d.score, region: toRegion(d.rle), k }))
    .sort((a, b) => b.score - a.score || a.k - b.k);
}

export interface MatchedDetection {
  tileId: string;
  score: number;
  tp: boolean;
}

export interface OidOptions {
  iouThreshold?: number;
  /** Leave out detections whose best match is an `unsure` region (instead of counting them as false positives). */
  ignoreUnsure?: boolean;
}

/**
 * Match one tile's detections: each, highest confidence first, goes to the region it overlaps
 * most (argmax IoU; the first on ties); a true positive when that IoU >= threshold and that
 * vessel is still unmatched, else a false positive. Ignored detections are left out.
 */
export function matchTileOid(gt: GroundTruthTile, detections: readonly Detection[], options: OidOptions = {}): { matched: MatchedDetection[]; ignored: number } {
  const threshold = options.iouThreshold ?? 0.6;
  const candidates = options.ignoreUnsure ? [...gt.vessels, ...gt.unsure] : gt.vessels;
  const taken = new Uint8Array(gt.vessels.length);
  const matched: MatchedDetection[] = [];
  let ignored = 0;
  for (const { score, region } of rankedRegions(detections)) {
    let best = -1;
    let bestIou = 0;
    for (let g = 0; g < candidates.length; g++) {
      const iou = regionIou(region, candidates[g]!);
      if (iou > bestIou) {
        bestIou = iou;
        best = g;
      }
    }
    if (best >= 0 && bestIou >= threshold) {
      if (best >= gt.vessels.length) {
        ignored++;
        continue;
      }
      if (!taken[best]) {
        taken[best] = 1;
        matched.push({ tileId: gt.id, score, tp: true });
        continue;
      }
    }
    matched.push({ tileId: gt.id, score, tp: false });
  }
  return { matched, ignored };
}

export interface ApResult {
  ap: number;
  tp: number;
  fp: number;
  fn: number;
  numGt: number;
  /** Precision and recall after each detection, in rank order (the PR curve). */
  precision: number[];
  recall: number[];
  scores: number[];
}

/** All-point (VOC) AP: area under the monotone precision envelope; NaN without ground truth. */
export function averagePrecision(matched: readonly MatchedDetection[], numGt: number): ApResult {
  const order = [...matched].sort((a, b) => b.score - a.score); // stable: keeps tile and in-tile order on ties
  const precision: number[] = [];
  const recall: number[] = [];
  const scores: number[] = [];
  let tp = 0;
  let fp = 0;
  for (const d of order) {
    if (d.tp) tp++;
    else fp++;
    precision.push(tp / (tp + fp));
    recall.push(numGt > 0 ? tp / numGt : Number.NaN);
    scores.push(d.score);
  }
  let ap = Number.NaN;
  if (numGt > 0) {
    // Envelope from the right, then sum precision over each recall step.
    const env = [0, ...precision, 0];
    const rec = [0, ...recall, 1];
    for (let k = env.length - 2; k >= 0; k--) env[k] = Math.max(env[k]!, env[k + 1]!);
    ap = 0;
    for (let k = 1; k < rec.length; k++) {
      if (rec[k] !== rec[k - 1]) ap += (rec[k]! - rec[k - 1]!) * env[k]!;
    }
  }
  return { ap, tp, fp, fn: numGt - tp, numGt, precision, recall, scores };
}

export interface GroupResult {
  group: string;
  tiles: number;
  ap: number;
  tp: number;
  fp: number;
  fn: number;
  numGt: number;
}

export interface OidResult extends ApResult {
  metric: 'oid';
  iouThreshold: number;
  tiles: number;
  detections: number;
  ignored: number;
  byDataset: GroupResult[];
  byWsi: GroupResult[];
}

export type Predictions = ReadonlyMap<string, readonly Detection[]>;

function checkPredictionIds(gt: ReadonlyMap<string, GroundTruthTile>, preds: Predictions): void {
  const unknown = [...preds.keys()].filter((id) => !gt.has(id));
  if (unknown.length > 0) {
    throw new Error(`predictions for ${unknown.length} tile${unknown.length > 1 ? 's' : ''} not in the ground truth: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`);
  }
}

function sortedTiles(gt: ReadonlyMap<string, GroundTruthTile>): GroundTruthTile[] {
  return [...gt.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The competition's metric over every ground-truth tile. Tiles without predictions count
 * their vessels as missed; predictions for tiles not in the ground truth are an error.
 */
export function evaluateOid(gt: ReadonlyMap<string, GroundTruthTile>, preds: Predictions, options: OidOptions = {}): OidResult {
  checkPredictionIds(gt, preds);
  const perTile = new Map<string, MatchedDetection[]>();
  let ignored = 0;
  let detections = 0;
  const tiles = sortedTiles(gt);
  for (const tile of tiles) {
    const dets = preds.get(tile.id) ?? [];
    detections += dets.length;
    const r = matchTileOid(tile, dets, options);
    ignored += r.ignored;
    perTile.set(tile.id, r.matched);
  }
  const summarise = (members: GroundTruthTile[]) => {
    const matched = members.flatMap((t) => perTile.get(t.id)!);
    const numGt = members.reduce((s, t) => s + t.vessels.length, 0);
    return averagePrecision(matched, numGt);
  };
  const groups = (key: (t: GroundTruthTile) => number | undefined, name: string): GroupResult[] => {
    const byKey = new Map<number, GroundTruthTile[]>();
    for (const t of tiles) {
      const k = key(t);
      if (k === undefined) continue;
      const list = byKey.get(k);
      if (list) list.push(t);
      else byKey.set(k, [t]);
    }
    return [...byKey.entries()].sort((a, b) => a[0] - b[0]).map(([k, members]) => {
      const r = summarise(members);
      return { group: `${name} ${k}`, tiles: members.length, ap: r.ap, tp: r.tp, fp: r.fp, fn: r.fn, numGt: r.numGt };
    });
  };
  return {
    metric: 'oid',
    iouThreshold: options.iouThreshold ?? 0.6,
    tiles: tiles.length,
    detections,
    ignored,
    ...summarise(tiles),
    byDataset: groups((t) => t.dataset, 'dataset'),
    byWsi: groups((t) => t.wsi, 'wsi'),
  };
}

export interface CocoOptions {
  /** IoU thresholds; default 0.50:0.05:0.95 as pycocotools. */
  iouThresholds?: number[];
  maxDets?: number;
}

export interface CocoResult {
  metric: 'coco';
  ap: number;
  iouThresholds: number[];
  /** AP at each threshold (-1 where there is no ground truth, as pycocotools). */
  apPerThreshold: number[];
  tiles: number;
  numGt: number;
}

/** pycocotools' default thresholds, computed as numpy's linspace does. */
export function cocoIouThresholds(): number[] {
  const step = (0.95 - 0.5) / 9;
  return Array.from({ length: 10 }, (_, k) => (k === 9 ? 0.95 : 0.5 + k * step));
}

/**
 * COCO mask AP for the vessel class, as pycocotools' COCOeval (segm, area "all", maxDets 100,
 * 101 recall points): each detection takes the best still-unmatched vessel with IoU >= t.
 */
export function evaluateCoco(gt: ReadonlyMap<string, GroundTruthTile>, preds: Predictions, options: CocoOptions = {}): CocoResult {
  checkPredictionIds(gt, preds);
  const thresholds = options.iouThresholds ?? cocoIouThresholds();
  const maxDets = options.maxDets ?? 100;
  const tiles = sortedTiles(gt);
  const numGt = tiles.reduce((s, t) => s + t.vessels.length, 0);
  const perTile = tiles.map((tile) => {
    const dets = rankedRegions(preds.get(tile.id) ?? []).slice(0, maxDets);
    const ious = dets.map((d) => tile.vessels.map((g) => regionIou(d.region, g)));
    return { dets, ious };
  });
  const recThrs = Array.from({ length: 101 }, (_, k) => k * 0.01);
  const apPerThreshold = thresholds.map((t) => {
    const scores: number[] = [];
    const tps: boolean[] = [];
    for (const { dets, ious } of perTile) {
      const gtm = new Uint8Array(ious[0]?.length ?? 0);
      dets.forEach((d, di) => {
        let iou = Math.min(t, 1 - 1e-10);
        let m = -1;
        const row = ious[di]!;
        for (let g = 0; g < row.length; g++) {
          if (gtm[g]) continue;
          if (row[g]! < iou) continue;
          iou = row[g]!;
          m = g;
        }
        if (m >= 0) gtm[m] = 1;
        scores.push(d.score);
        tps.push(m >= 0);
      });
    }
    if (numGt === 0) return -1;
    const order = scores.map((s, k) => ({ s, k })).sort((a, b) => b.s - a.s).map((o) => o.k);
    const rc: number[] = [];
    const pr: number[] = [];
    let tp = 0;
    let fp = 0;
    for (const k of order) {
      if (tps[k]) tp++;
      else fp++;
      rc.push(tp / numGt);
      pr.push(tp / (tp + fp + Number.EPSILON));
    }
    for (let k = pr.length - 1; k > 0; k--) if (pr[k]! > pr[k - 1]!) pr[k - 1] = pr[k]!;
    let sum = 0;
    let pi = 0;
    for (const r of recThrs) {
      while (pi < rc.length && rc[pi]! < r) pi++; // searchsorted, side = left
      if (pi < rc.length) sum += pr[pi]!;
    }
    return sum / recThrs.length;
  });
  const valid = apPerThreshold.filter((v) => v > -1);
  return {
    metric: 'coco',
    ap: valid.length ? valid.reduce((s, v) => s + v, 0) / valid.length : -1,
    iouThresholds: thresholds,
    apPerThreshold,
    tiles: tiles.length,
    numGt,
  };
}
