import { rasterize } from './rasterize.ts';
import type { RgbImage } from './images.ts';
import type { Annotation, AnnotationType } from './types.ts';

/** Outline colours, as the competition's annotated example: vessels cyan, glomeruli yellow, unsure orange. */
export const LABEL_COLOURS: Record<AnnotationType, [number, number, number]> = {
  blood_vessel: [0, 230, 255],
  glomerulus: [255, 220, 0],
  unsure: [255, 140, 0],
};

/** A copy of the image with each annotation's outline (2 px, inside the region) drawn in its colour. */
export function drawOutlines(image: RgbImage, annotations: readonly Annotation[]): RgbImage {
  const { width, height } = image;
  const data = new Uint8Array(image.data);
  for (const a of annotations) {
    const m = rasterize(a.coordinates, width, height);
    const colour = LABEL_COLOURS[a.type];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if (!m[p]) continue;
        let edge = false;
        for (let d = 1; d <= 2 && !edge; d++) {
          edge = x < d || y < d || x >= width - d || y >= height - d ||
            !m[p - d] || !m[p + d] || !m[p - d * width] || !m[p + d * width];
        }
        if (edge) data.set(colour, p * 3);
      }
    }
  }
  return { width, height, data };
}

/** Predictions are drawn magenta, truth green, in overlays and the report's gallery alike. */
export const PREDICTED_COLOUR: [number, number, number] = [255, 0, 200];
export const TRUTH_COLOUR: [number, number, number] = [40, 220, 60];

/**
 * Paint one instance for eyes: its mask blended in at `alpha` (the tissue stays visible
 * underneath) and its 1-px inner boundary in the full colour.
 */
export function paintInstance(data: Uint8Array, mask: Uint8Array, width: number, height: number, colour: readonly [number, number, number], alpha = 0.3): void {
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const p = y * width + x;
    if (!mask[p]) continue;
    const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !mask[p - 1] || !mask[p + 1] || !mask[p - width] || !mask[p + width];
    for (let c = 0; c < 3; c++) data[p * 3 + c] = edge ? colour[c]! : Math.round(data[p * 3 + c]! * (1 - alpha) + colour[c]! * alpha);
  }
}

/** Boxes [x1, y1, x2, y2] of labels already placed; a new label goes only where it fits and overlaps none. */
export function placeLabel(placed: [number, number, number, number][], box: readonly number[], text: string, fontPx = 10): { x: number; y: number } | null {
  const w = text.length * fontPx * 0.6, h = fontPx + 2;
  if (box[2]! - box[0]! < w || box[3]! - box[1]! < h) return null; // the instance is smaller than its label
  const x = Math.max(0, box[0]!), y = Math.max(0, box[1]!);
  const mine: [number, number, number, number] = [x, y, x + w, y + h];
  if (placed.some((q) => q[0] < mine[2] && mine[0] < q[2] && q[1] < mine[3] && mine[1] < q[3])) return null;
  placed.push(mine);
  return { x, y: y + fontPx };
}
