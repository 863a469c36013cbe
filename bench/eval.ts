/**
 * npm run bench:eval — score 1,633 tiles with 30 predictions each (the real training set's
 * size) with our run-length metric, and compare with a plain dense-mask implementation of
 * the same metric on the same tiles, in the same run. Ground truth: the 85 real expert tiles,
 * repeated; predictions: simulated (src/eval/simulate.ts).
 */
import { readReferenceMaterial } from '../src/reference/build.ts';
import { groundTruthTile, type GroundTruthTile } from '../src/eval/groundtruth.ts';
import { simulatePredictions } from '../src/eval/simulate.ts';
import { averagePrecision, evaluateOid, type MatchedDetection } from '../src/eval/metric.ts';
import { decodeRle } from '../src/eval/rle.ts';
import { formatSubmission, parseSubmission, type Detection } from '../src/eval/submission.ts';

const N = 1633;
const DENSE_TILES = 163;

const { vessels } = await readReferenceMaterial();
const base = vessels.map((t) => groundTruthTile(t.id, t.annotations));
const gt = new Map<string, GroundTruthTile>();
for (let k = 0; k < N; k++) {
  const id = k.toString(16).padStart(12, '0');
  gt.set(id, { ...base[k % base.length]!, id });
}
const tiles = simulatePredictions(gt.values(), { seed: 1, perTile: 30 });
const preds = new Map<string, Detection[]>(tiles.map((t) => [t.id, t.detections]));

/** The same metric on dense masks: every IoU by a full pass over the pixels. */
function denseOid(gtTiles: GroundTruthTile[], predictions: Map<string, Detection[]>): number {
  const matched: MatchedDetection[] = [];
  let numGt = 0;
  for (const tile of gtTiles) {
    const vesselMasks = tile.vessels.map((v) => decodeRle(v.rle));
    numGt += vesselMasks.length;
    const taken = new Uint8Array(vesselMasks.length);
    const dets = [...(predictions.get(tile.id) ?? [])].sort((a, b) => b.score - a.score);
    for (const d of dets) {
      const m = decodeRle(d.rle);
      let best = -1, bestIou = 0;
      vesselMasks.forEach((g, gi) => {
        let inter = 0, union = 0;
        for (let p = 0; p < m.length; p++) { inter += m[p]! & g[p]!; union += m[p]! | g[p]!; }
        const iou = union ? inter / union : 0;
        if (iou > bestIou) { bestIou = iou; best = gi; }
      });
      const tp = best >= 0 && bestIou >= 0.6 && !taken[best];
      if (tp) taken[best] = 1;
      matched.push({ tileId: tile.id, score: d.score, tp });
    }
  }
  return averagePrecision(matched, numGt).ap;
}

const subset = [...gt.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, DENSE_TILES);
const subsetGt = new Map(subset.map((t) => [t.id, t]));
const subsetPreds = new Map(subset.map((t) => [t.id, preds.get(t.id)!]));

let t0 = performance.now();
const oursSubset = evaluateOid(subsetGt, subsetPreds).ap;
const oursSubsetMs = performance.now() - t0;
t0 = performance.now();
const dense = denseOid(subset, subsetPreds);
const denseMs = performance.now() - t0;
if (Math.abs(dense - oursSubset) > 1e-12) throw new Error(`dense AP ${dense} != run-length AP ${oursSubset}`);

t0 = performance.now();
const full = evaluateOid(gt, preds);
const fullMs = performance.now() - t0;

const csv = formatSubmission(tiles);
t0 = performance.now();
const parsed = parseSubmission(csv, 'bench.csv');
const parseMs = performance.now() - t0;

console.log(`scoring ${N} tiles x 30 predictions (${full.detections} detections, ${full.numGt} vessels): AP@0.6 ${full.ap.toFixed(6)}`);
console.log(`  run-length metric, all tiles:     ${(fullMs / 1000).toFixed(2)} s`);
console.log(`  parse the submission CSV (${(csv.length / 1e6).toFixed(1)} MB, ${parsed.tiles.length} rows): ${(parseMs / 1000).toFixed(2)} s`);
console.log(`  same ${DENSE_TILES} tiles: run-length ${(oursSubsetMs / 1000).toFixed(3)} s, dense masks ${(denseMs / 1000).toFixed(2)} s: ${(denseMs / oursSubsetMs).toFixed(1)}x faster (same AP ${dense.toFixed(6)})`);
