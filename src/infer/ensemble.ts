import type { SoftMask } from './decode.ts';
import { boxIou, nms, type Box } from './nms.ts';
import { once } from '../util/once.ts';

/** A detection of one model (and flip) in the pool, mapped back to the canvas. */
export interface Candidate {
  score: number;
  box: Box;
  /** Its soft mask, computed when first asked for: NMS drops most of a fold ensemble's pool unseen. */
  mask: () => SoftMask;
  /** Which model (and flip) produced it, e.g. `model 1 flip h`. */
  source: string;
}

export const ENSEMBLES = ['nms', 'wsf'] as const;
export type EnsembleMethod = (typeof ENSEMBLES)[number];

/**
 * The seed's ensemble: pool every model's detections, run NMS over the pool, and let each
 * kept instance keep the mask of the model whose box survived. Returns the kept candidates,
 * best first.
 */
export function nmsEnsemble(pool: readonly Candidate[], iou: number, maxDet: number): Candidate[] {
  return nms(pool.map((c) => c.box), pool.map((c) => c.score), pool.map(() => 0), iou, maxDet).map((k) => pool[k]!);
}

/**
 * Weighted segments fusion: weighted boxes fusion (Solovyev et al.) carried over to masks.
 * Candidates, best first, join the cluster whose fused box overlaps them most (IoU above
 * `iou`) or start one. A cluster's box is the score-weighted mean of its boxes; its mask the
 * score-weighted mean of its members' mask probabilities (a member adds 0 outside its own
 * mask), thresholded later like any mask; its score the mean member score times
 * min(members, sources) / sources, so an instance only some models see is trusted less.
 */
export function wsfEnsemble(pool: readonly Candidate[], sources: number, iou: number, maxDet: number): Candidate[] {
  const order = [...pool].sort((a, b) => b.score - a.score);
  const clusters: { members: Candidate[]; box: Box }[] = [];
  for (const c of order) {
    let best = -1, bestIou = iou;
    clusters.forEach((cl, k) => {
      const v = boxIou(cl.box, c.box);
      if (v > bestIou) { best = k; bestIou = v; }
    });
    if (best < 0) {
      clusters.push({ members: [c], box: [...c.box] });
      continue;
    }
    const cl = clusters[best]!;
    cl.members.push(c);
    const total = cl.members.reduce((s, m) => s + m.score, 0);
    cl.box = [0, 1, 2, 3].map((i) => cl.members.reduce((s, m) => s + m.box[i]! * m.score, 0) / total) as Box;
  }
  const fused = clusters.map(({ members, box }): Candidate => {
    const total = members.reduce((s, m) => s + m.score, 0);
    const score = (total / members.length) * Math.min(members.length, sources) / sources;
    return { score, box, mask: once(() => fuseMasks(members, total)), source: members.length === 1 ? members[0]!.source : `wsf of ${members.length}` };
  });
  return fused.sort((a, b) => b.score - a.score).slice(0, maxDet);
}

/** Score-weighted mean of soft masks over the union of their windows. */
function fuseMasks(members: readonly Candidate[], totalScore: number): SoftMask {
  const masks = members.map((m) => m.mask());
  if (masks.length === 1) return masks[0]!;
  const x0 = Math.min(...masks.map((m) => m.x0)), y0 = Math.min(...masks.map((m) => m.y0));
  const x1 = Math.max(...masks.map((m) => m.x0 + m.w)), y1 = Math.max(...masks.map((m) => m.y0 + m.h));
  const w = x1 - x0, h = y1 - y0;
  const prob = new Float32Array(w * h);
  members.forEach(({ score }, k) => {
    const m = masks[k]!, weight = score / totalScore;
    for (let y = 0; y < m.h; y++) {
      const row = (m.y0 - y0 + y) * w + (m.x0 - x0);
      for (let x = 0; x < m.w; x++) prob[row + x] += m.prob[y * m.w + x]! * weight;
    }
  });
  return { x0, y0, w, h, prob };
}
