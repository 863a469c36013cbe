/** Boxes are [x1, y1, x2, y2] in pixels. */
export type Box = [number, number, number, number];

export function boxIou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/**
 * Greedy non-maximum suppression: highest score first; a box is dropped when its IoU with a
 * kept box of the same class exceeds `iouThreshold` (class-aware, as YOLO's default).
 * Returns kept indices, best first, at most `maxDet`. At the seed's conf 0.001 some 20,000
 * candidates meet up to 300 kept boxes, so kept boxes are filed in a coarse grid and a
 * candidate is compared only with those filed in the cells it covers (IoU > 0 needs overlap).
 */
export function nms(boxes: readonly Box[], scores: ArrayLike<number>, classes: ArrayLike<number>, iouThreshold: number, maxDet = 300): number[] {
  if (boxes.length === 0) return [];
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [x1, y1, x2, y2] of boxes) { minX = Math.min(minX, x1); minY = Math.min(minY, y1); maxX = Math.max(maxX, x2); maxY = Math.max(maxY, y2); }
  return nmsOf((k) => boxes[k]!, [minX, minY, maxX, maxY], scores, classes, iouThreshold, maxDet);
}

/**
 * `nms` for candidates whose boxes are computed on demand (`boxAt(k)`, asked only of the
 * candidates NMS reaches, best first: with 300 kept out of 20,000, a few thousand). `extent`
 * is where the boxes mostly lie (the image): it only sizes the search grid, whose edge cells
 * take whatever lies beyond it, so any extent gives the same result.
 */
export function nmsOf(boxAt: (k: number) => Box, extent: Box, scores: ArrayLike<number>, classes: ArrayLike<number>, iouThreshold: number, maxDet = 300): number[] {
  const kept: number[] = [];
  if (scores.length === 0) return kept;
  const [minX, minY, maxX, maxY] = extent;
  const cells = 16;
  const cw = Math.max((maxX - minX) / cells, 1e-9), ch = Math.max((maxY - minY) / cells, 1e-9);
  const cell = (v: number, min: number, size: number) => Math.min(cells - 1, Math.max(0, Math.floor((v - min) / size)));
  const grid: number[][] = Array.from({ length: cells * cells }, () => []);
  const kx1 = new Float64Array(maxDet), ky1 = new Float64Array(maxDet), kx2 = new Float64Array(maxDet), ky2 = new Float64Array(maxDet);
  const karea = new Float64Array(maxDet), kcls = new Float64Array(maxDet);
  const seen = new Int32Array(maxDet).fill(-1);
  let stamp = 0;
  for (const k of scoreOrder(scores, () => kept.length >= maxDet)) {
    const [x1, y1, x2, y2] = boxAt(k);
    const area = (x2 - x1) * (y2 - y1), cls = classes[k]!;
    const cx0 = cell(x1, minX, cw), cx1 = cell(x2, minX, cw), cy0 = cell(y1, minY, ch), cy1 = cell(y2, minY, ch);
    stamp++;
    let keep = true;
    for (let gy = cy0; gy <= cy1 && keep; gy++) for (let gx = cx0; gx <= cx1 && keep; gx++) {
      for (const j of grid[gy * cells + gx]!) {
        if (seen[j] === stamp) continue;
        seen[j] = stamp;
        if (kcls[j] !== cls) continue;
        const iw = Math.min(x2, kx2[j]!) - Math.max(x1, kx1[j]!);
        if (iw <= 0) continue;
        const ih = Math.min(y2, ky2[j]!) - Math.max(y1, ky1[j]!);
        if (ih <= 0) continue;
        const inter = iw * ih;
        if (inter / (area + karea[j]! - inter) > iouThreshold) { keep = false; break; }
      }
    }
    if (!keep) continue;
    const j = kept.length;
    kx1[j] = x1; ky1[j] = y1; kx2[j] = x2; ky2[j] = y2; karea[j] = area; kcls[j] = cls;
    for (let gy = cy0; gy <= cy1; gy++) for (let gx = cx0; gx <= cx1; gx++) grid[gy * cells + gx]!.push(j);
    kept.push(k);
  }
  return kept;
}

/**
 * Indices by descending score (ties by index), produced in chunks so that a caller that stops
 * early (NMS with 300 kept out of 20,000 candidates) sorts only the chunks it reads: a native
 * numeric sort of the scores gives each chunk's lower bound, and only the chunk gets the
 * comparator sort. NaN scores are never yielded (a NaN is no detection); +-Infinity rank as
 * numbers. Every pass takes at least one index, so it ends on any input.
 */
function* scoreOrder(scores: ArrayLike<number>, done: () => boolean, chunk = 1024): Generator<number> {
  const n = scores.length;
  const sorted = Float64Array.from(scores).sort(); // ascending, native; NaNs sort last
  let end = n; // sorted[0, end) are the scores not yet yielded
  while (end > 0 && Number.isNaN(sorted[end - 1]!)) end--;
  let upper = Infinity;
  let first = true; // the first pass includes +Infinity itself
  while (end > 0) {
    const lower = sorted[Math.max(0, end - chunk)]!;
    const part: number[] = [];
    for (let k = 0; k < n; k++) {
      const s = scores[k]!;
      if (s >= lower && (first || s < upper)) part.push(k);
    }
    part.sort((a, b) => scores[b]! - scores[a]! || a - b);
    for (const k of part) {
      if (done()) return;
      yield k;
    }
    upper = lower;
    first = false;
    end -= part.length;
  }
}
