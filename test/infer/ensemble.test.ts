import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nmsEnsemble, wsfEnsemble, type Candidate } from '../../src/infer/ensemble.ts';
import { windowBits, type SoftMask } from '../../src/infer/decode.ts';
import { boxIou as boxIouRef, nms, type Box } from '../../src/infer/nms.ts';

/** A soft mask filling its window with one probability. */
const filled = (x0: number, y0: number, w: number, h: number, p: number): SoftMask => ({ x0, y0, w, h, prob: new Float32Array(w * h).fill(p) });
const cand = (score: number, box: Box, mask: SoftMask, source: string): Candidate => ({ score, box, mask: () => mask, source });

test('NMS ensemble: the surviving box keeps its own model\'s mask', () => {
  const a = cand(0.7, [10, 10, 30, 30], filled(10, 10, 20, 20, 0.9), 'model 0');
  const b = cand(0.9, [12, 12, 32, 32], filled(14, 14, 10, 10, 0.8), 'model 1');
  const far = cand(0.5, [100, 100, 120, 120], filled(100, 100, 20, 20, 0.9), 'model 0');
  const kept = nmsEnsemble([a, b, far], 0.55, 300);
  assert.deepEqual(kept.map((c) => c.source), ['model 1', 'model 0']);
  assert.equal(kept[0]!.mask(), b.mask(), 'model 1 won: its mask, not a merge');
  assert.equal(kept[1], far);
  assert.equal(nmsEnsemble([a, b, far], 0.55, 1).length, 1);
});

test('ensembles compute only the masks of what they keep', () => {
  const asked: string[] = [];
  const counted = (score: number, x: number, source: string): Candidate => ({ score, box: [x, 0, x + 20, 20], mask: () => { asked.push(source); return filled(x, 0, 20, 20, 0.9); }, source });
  const pool = [counted(0.9, 0, 'a'), counted(0.8, 1, 'b'), counted(0.7, 100, 'c'), counted(0.6, 200, 'd')];
  const kept = nmsEnsemble(pool, 0.55, 2);
  assert.deepEqual(asked, [], 'NMS reads boxes and scores only');
  kept.forEach((c) => c.mask());
  assert.deepEqual(asked, ['a', 'c']);
  asked.length = 0;
  const fused = wsfEnsemble(pool, 2, 0.55, 2);
  fused.forEach((c) => { c.mask(); c.mask(); });
  assert.deepEqual(asked.sort(), ['a', 'b', 'c'], 'the two kept clusters\' members, once each; d falls beyond max-det');
});

test('WSF: boxes and mask probabilities averaged by score, confidence scaled by agreement', () => {
  // Two models see one vessel; a third sees nothing there. Model 1 also sees a lone one.
  const a = cand(0.8, [10, 10, 30, 30], filled(10, 10, 20, 20, 0.9), 'model 0');
  const b = cand(0.4, [13, 13, 33, 33], filled(13, 13, 20, 20, 0.3), 'model 1');
  const lone = cand(0.6, [200, 200, 220, 220], filled(200, 200, 20, 20, 0.9), 'model 1');
  const fused = wsfEnsemble([b, lone, a], 3, 0.55, 300);
  assert.equal(fused.length, 2);
  const [pair, single] = fused[0]!.source.startsWith('wsf') ? [fused[0]!, fused[1]!] : [fused[1]!, fused[0]!];
  assert.equal(pair.source, 'wsf of 2');
  assert.ok(Math.abs(pair.score - ((0.8 + 0.4) / 2) * (2 / 3)) < 1e-9);
  assert.ok(Math.abs(single.score - 0.6 / 3) < 1e-9, 'one source of three: a third of its score');
  assert.deepEqual(pair.box.map((v) => +v.toFixed(6)), [11, 11, 31, 31], 'score-weighted box: (0.8*10 + 0.4*13) / 1.2');
  // Where both masks overlap: (0.8*0.9 + 0.4*0.3) / 1.2 = 0.7; only a: 0.6; only b: 0.1.
  const m = pair.mask();
  const at = (x: number, y: number) => m.prob[(y - m.y0) * m.w + (x - m.x0)]!;
  assert.ok(Math.abs(at(20, 20) - 0.7) < 1e-6);
  assert.ok(Math.abs(at(11, 11) - 0.6) < 1e-6);
  assert.ok(Math.abs(at(32, 32) - 0.1) < 1e-6);
  const bin = windowBits(m);
  assert.equal(bin[(20 - m.y0) * m.w + (20 - m.x0)], 1);
  assert.equal(bin[(32 - m.y0) * m.w + (32 - m.x0)], 0, 'a weak model alone does not carry a pixel');
  assert.ok(fused[0]!.score >= fused[1]!.score);
});

test('WSF: a candidate joins the cluster it overlaps most, not the first that passes', () => {
  const left = cand(0.9, [0, 0, 20, 20], filled(0, 0, 20, 20, 0.9), 'model 0');
  const right = cand(0.85, [8, 0, 28, 20], filled(8, 0, 20, 20, 0.9), 'model 0');
  const mid = cand(0.5, [7, 0, 27, 20], filled(7, 0, 20, 20, 0.9), 'model 1');
  const fused = wsfEnsemble([left, right, mid], 2, 0.4, 300);
  // left and right overlap at IoU 0.43 > 0.4, so they cluster; with threshold 0.5 they stay apart.
  assert.equal(fused.length, 1);
  const apart = wsfEnsemble([left, right, mid], 2, 0.5, 300);
  assert.equal(apart.length, 2);
  const withMid = apart.find((c) => c.source === 'wsf of 2')!;
  assert.ok(withMid.box[0] > 7 && withMid.box[0] < 8, `mid (IoU 0.90 with right, 0.48 with left) joins right: ${withMid.box}`);
});

test('NMS equals the plain greedy definition on random boxes (ties, classes, max-det)', () => {
  let seed = 5;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const reference = (boxes: Box[], scores: number[], classes: number[], thr: number, maxDet: number) => {
    const order = boxes.map((_, k) => k).sort((a, b) => scores[b]! - scores[a]! || a - b);
    const kept: number[] = [];
    for (const k of order) {
      if (kept.length >= maxDet) break;
      if (kept.every((j) => classes[j] !== classes[k] || boxIouRef(boxes[j]!, boxes[k]!) <= thr)) kept.push(k);
    }
    return kept;
  };
  for (let trial = 0; trial < 30; trial++) {
    const n = 50 + Math.floor(random() * 3000);
    const boxes: Box[] = [], scores: number[] = [], classes: number[] = [];
    for (let k = 0; k < n; k++) {
      const x = random() * 600 - 50, y = random() * 600 - 50, w = 2 + random() * (trial % 3 === 0 ? 300 : 40), h = 2 + random() * 40;
      boxes.push([x, y, x + w, y + h]);
      scores.push(Math.round(random() * 200) / 200); // many ties
      classes.push(trial % 2 === 0 ? 0 : Math.floor(random() * 3));
    }
    const thr = 0.3 + random() * 0.4, maxDet = trial % 4 === 0 ? 20 : 300;
    assert.deepEqual(nms(boxes, scores, classes, thr, maxDet), reference(boxes, scores, classes, thr, maxDet), `trial ${trial}`);
  }
});
