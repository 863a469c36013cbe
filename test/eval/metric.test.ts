import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMask, type Rle } from '../../src/eval/rle.ts';
import { toRegion, type GroundTruthTile } from '../../src/eval/groundtruth.ts';
import { averagePrecision, evaluateCoco, evaluateOid, matchTileOid, type MatchedDetection } from '../../src/eval/metric.ts';
import { parseSubmission } from '../../src/eval/submission.ts';

const W = 20, H = 20;

/** Mask of the rectangle [x, x+w) x [y, y+h) on a 20x20 tile. */
function rect(x: number, y: number, w: number, h: number): Rle {
  const m = new Uint8Array(W * H);
  for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) m[yy * W + xx] = 1;
  return encodeMask(m, W, H);
}

function tile(id: string, vessels: Rle[], extra: Partial<Pick<GroundTruthTile, 'unsure' | 'glomeruli' | 'dataset' | 'wsi'>> = {}): GroundTruthTile {
  return { id, height: H, width: W, vessels: vessels.map(toRegion), unsure: [], glomeruli: [], ...extra };
}

const gtMap = (...tiles: GroundTruthTile[]) => new Map(tiles.map((t) => [t.id, t]));

test('AP by hand: two vessels, a hit, a miss, a hit', () => {
  const matched: MatchedDetection[] = [
    { tileId: 'a', score: 0.9, tp: true },
    { tileId: 'a', score: 0.8, tp: false },
    { tileId: 'a', score: 0.7, tp: true },
  ];
  // precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 -> envelope 1, 2/3, 2/3 -> AP = 0.5*1 + 0.5*2/3
  const r = averagePrecision(matched, 2);
  assert.equal(r.ap, 0.5 + 0.5 * (2 / 3));
  assert.deepEqual([r.tp, r.fp, r.fn], [2, 1, 0]);
  assert.deepEqual(r.recall, [0.5, 0.5, 1]);
  // Recall never reached: the area stops at the last recall.
  assert.equal(averagePrecision(matched.slice(0, 1), 4).ap, 0.25);
  assert.ok(Number.isNaN(averagePrecision(matched, 0).ap));
});

test('a duplicate detection of a matched vessel is a false positive', () => {
  const v = rect(0, 0, 10, 10);
  const r = evaluateOid(gtMap(tile('a', [v])), new Map([['a', [{ score: 0.9, rle: v }, { score: 0.8, rle: v }]]]));
  assert.deepEqual([r.tp, r.fp, r.fn], [1, 1, 0]);
  assert.equal(r.ap, 1);
  // The duplicate ranked first (higher confidence) makes no difference to which one counts.
  const r2 = evaluateOid(gtMap(tile('a', [v])), new Map([['a', [{ score: 0.5, rle: v }, { score: 0.8, rle: rect(0, 0, 10, 9) }]]]));
  assert.deepEqual([r2.tp, r2.fp], [1, 1]);
});

test('a detection goes to the vessel it overlaps most, even when that one is taken', () => {
  // Vessels A = x 0..9 and B = x 8..17 (rows 0..9). Detection 1 = A exactly; detection 2 overlaps A more than B.
  const A = rect(0, 0, 10, 10);
  const B = rect(8, 0, 10, 10);
  const d2 = rect(3, 0, 11, 10); // IoU with A = 70/140 = 0.5; with B = 60/150 = 0.4
  const { matched } = matchTileOid(tile('a', [A, B]), [{ score: 0.9, rle: A }, { score: 0.8, rle: d2 }]);
  assert.deepEqual(matched.map((m) => m.tp), [true, false]);
});

test('IoU exactly 0.6 is a match; just below is not', () => {
  const v = rect(0, 0, 10, 10); // 100 px
  const exact = rect(0, 0, 6, 10); // 60 / 100 = 0.6
  const exactRows = rect(0, 0, 10, 6); // 60 / 100 again, cut the other way
  const m = new Uint8Array(W * H); // 59 pixels inside the vessel: IoU 0.59
  for (let p = 0; p < 59; p++) m[Math.floor(p / 10) * W + (p % 10)] = 1;
  const r1 = evaluateOid(gtMap(tile('a', [v])), new Map([['a', [{ score: 0.5, rle: exact }]]]));
  assert.equal(r1.tp, 1);
  const r2 = evaluateOid(gtMap(tile('a', [v])), new Map([['a', [{ score: 0.5, rle: exactRows }]]]));
  assert.equal(r2.tp, 1);
  const r3 = evaluateOid(gtMap(tile('a', [v])), new Map([['a', [{ score: 0.5, rle: encodeMask(m, W, H) }]]]));
  assert.equal(r3.tp, 0);
  assert.equal(r3.ap, 0);
});

test('a tie in confidence: ranking is stable in tile and detection order', () => {
  const v1 = rect(0, 0, 5, 5);
  const v2 = rect(10, 10, 5, 5);
  // Tile "a": a false positive at 0.7; tile "b": a true positive at 0.7, and one more hit at 0.6.
  const gt = gtMap(tile('a', [v1]), tile('b', [v2]));
  const preds = new Map([
    ['a', [{ score: 0.7, rle: rect(15, 0, 3, 3) }, { score: 0.6, rle: v1 }]],
    ['b', [{ score: 0.7, rle: v2 }]],
  ]);
  const r = evaluateOid(gt, preds);
  // Order: a@0.7 (FP), b@0.7 (TP), a@0.6 (TP): precision 0, 1/2, 2/3 over recall 0, 1/2, 1.
  assert.deepEqual(r.precision, [0, 0.5, 2 / 3]);
  assert.equal(r.ap, 0.5 * (2 / 3) + 0.5 * (2 / 3));
});

test('a tile with no ground truth: its detections are false positives; missing predictions are misses', () => {
  const v = rect(0, 0, 10, 10);
  const gt = gtMap(tile('a', [v]), tile('empty', []), tile('missed', [rect(5, 5, 4, 4)]));
  const r = evaluateOid(gt, new Map([['a', [{ score: 0.4, rle: v }]], ['empty', [{ score: 0.9, rle: v }]]]));
  assert.deepEqual([r.tp, r.fp, r.fn, r.numGt], [1, 1, 1, 2]);
  // FP at 0.9 first, then TP: precision 0, 1/2 at recall 0, 1/2.
  assert.equal(r.ap, 0.25);
  assert.throws(() => evaluateOid(gt, new Map([['nope', []]])), /predictions for 1 tile not in the ground truth: nope/);
});

test('an empty prediction string parses to no detections and scores as all missed', () => {
  const csv = 'id,height,width,prediction_string\na,20,20,\n';
  const { tiles, issues } = parseSubmission(csv, 'sub.csv');
  assert.deepEqual(issues, []);
  assert.deepEqual(tiles[0]!.detections, []);
  const r = evaluateOid(gtMap(tile('a', [rect(0, 0, 4, 4)])), new Map([['a', tiles[0]!.detections]]));
  assert.deepEqual([r.ap, r.tp, r.fn], [0, 0, 1]);
});

test('glomeruli and unsure regions are not ground truth; --ignore-unsure leaves out detections on unsure', () => {
  const v = rect(0, 0, 5, 5);
  const u = rect(10, 10, 6, 6);
  const g = rect(10, 0, 8, 8);
  const gt = gtMap(tile('a', [v], { unsure: [toRegion(u)], glomeruli: [toRegion(g)] }));
  const preds = new Map([['a', [{ score: 0.9, rle: u }, { score: 0.8, rle: g }, { score: 0.7, rle: v }]]]);
  const plain = evaluateOid(gt, preds);
  assert.deepEqual([plain.tp, plain.fp, plain.ignored], [1, 2, 0]);
  assert.equal(plain.ap, 1 / 3);
  const ignoring = evaluateOid(gt, preds, { ignoreUnsure: true });
  assert.deepEqual([ignoring.tp, ignoring.fp, ignoring.ignored], [1, 1, 1]);
  assert.equal(ignoring.ap, 0.5);
});

test('breakdowns by dataset and WSI', () => {
  const v = rect(0, 0, 5, 5);
  const gt = gtMap(tile('a', [v], { dataset: 1, wsi: 1 }), tile('b', [v], { dataset: 1, wsi: 2 }), tile('c', [v], { dataset: 2, wsi: 2 }));
  const preds = new Map([['a', [{ score: 0.9, rle: v }]], ['c', [{ score: 0.9, rle: rect(10, 10, 3, 3) }]]]);
  const r = evaluateOid(gt, preds);
  assert.deepEqual(r.byDataset.map((g) => [g.group, g.tiles, g.ap, g.tp, g.fn]), [['dataset 1', 2, 0.5, 1, 1], ['dataset 2', 1, 0, 0, 1]]);
  assert.deepEqual(r.byWsi.map((g) => [g.group, g.ap]), [['wsi 1', 1], ['wsi 2', 0]]);
});

// pycocotools divides by tp + fp + eps, so a perfect score is 1 - 2.2e-16: compare to 12 digits.
const r12 = (v: number) => Math.round(v * 1e12) / 1e12;

test('COCO AP: perfect masks give 1; a 0.7-IoU mask counts at thresholds 0.50-0.70 only', () => {
  const v = rect(0, 0, 10, 10);
  assert.equal(r12(evaluateCoco(gtMap(tile('a', [v])), new Map([['a', [{ score: 1, rle: v }]]])).ap), 1);
  const r = evaluateCoco(gtMap(tile('a', [v])), new Map([['a', [{ score: 1, rle: rect(0, 0, 7, 10) }]]]));
  assert.deepEqual(r.apPerThreshold.map(r12), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  assert.equal(r12(r.ap), 0.5);
  // One threshold, like --iou 0.6, and a half-recall case: 101-point interpolation gives 51/101.
  const half = evaluateCoco(gtMap(tile('a', [v, rect(12, 12, 5, 5)])), new Map([['a', [{ score: 1, rle: v }]]]), { iouThresholds: [0.6] });
  assert.equal(r12(half.ap), r12(51 / 101));
});
