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
 * Returns kept indices, best first, at most `maxDet`.
 */
export function nms(boxes: readonly Box[], scores: ArrayLike<number>, classes: ArrayLike<number>, iouThreshold: number, maxDet = 300): number[] {
  const order = Array.from({ length: boxes.length }, (_, k) => k).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept: number[] = [];
  for (const k of order) {
    if (kept.length >= maxDet) break;
    let keep = true;
    for (const j of kept) {
      if (classes[j] === classes[k] && boxIou(boxes[j]!, boxes[k]!) > iouThreshold) {
        keep = false;
        break;
      }
    }
    if (keep) kept.push(k);
  }
  return kept;
}
