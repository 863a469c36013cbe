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
