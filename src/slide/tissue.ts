import type { RgbImage } from '../data/images.ts';
import { labelComponents } from '../data/components.ts';

/** Saturation (max - min) / max of each pixel, 0..1; glass is white or grey, stained tissue is not. */
export function saturation(img: RgbImage): Float32Array {
  const out = new Float32Array(img.width * img.height);
  for (let p = 0; p < out.length; p++) {
    const r = img.data[p * 3]!, g = img.data[p * 3 + 1]!, b = img.data[p * 3 + 2]!;
    const max = Math.max(r, g, b), min = Math.min(r, g, b);
    out[p] = max === 0 ? 0 : (max - min) / max;
  }
  return out;
}

/** Otsu's threshold of values in 0..1 (256 bins): the split that maximises the between-class variance. */
export function otsu(values: Float32Array): number {
  const hist = new Float64Array(256);
  for (const v of values) hist[Math.min(255, Math.max(0, Math.floor(v * 256)))]++;
  const total = values.length;
  let sumAll = 0;
  for (let k = 0; k < 256; k++) sumAll += k * hist[k]!;
  let sumB = 0, wB = 0, best = 0, bestVar = -1;
  for (let k = 0; k < 256; k++) {
    wB += hist[k]!;
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += k * hist[k]!;
    const mB = sumB / wB, mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) ** 2;
    if (between > bestVar) { bestVar = between; best = k; }
  }
  return (best + 1) / 256;
}

/**
 * Otsu on saturation, kept between 0.03 and 0.12: a slide that is all tissue has no glass mode
 * for Otsu to find (it would split the tissue), and a blank one no tissue mode; stained tissue
 * is above 0.12 and glass below 0.03 on the slides we know.
 */
export const TISSUE_THRESHOLD = { min: 0.03, max: 0.12 };

/**
 * Tissue mask of a low-resolution image: saturation above the (clamped) Otsu threshold; holes
 * (background enclosed by tissue, such as a lumen or a tear) smaller than `maxHole` pixels
 * filled; specks of tissue under `minSpeck` pixels dropped.
 */
export function tissueMask(img: RgbImage, maxHole: number, minSpeck = 4): { mask: Uint8Array; threshold: number } {
  const sat = saturation(img);
  const threshold = Math.min(TISSUE_THRESHOLD.max, Math.max(TISSUE_THRESHOLD.min, otsu(sat)));
  const { width: w, height: h } = img;
  const mask = new Uint8Array(w * h);
  for (let p = 0; p < mask.length; p++) mask[p] = sat[p]! >= threshold ? 1 : 0;
  // Holes: background components that do not reach the border.
  const background = mask.map((v) => 1 - v);
  const bg = labelComponents(background, w, h);
  const touches = new Uint8Array(bg.count + 1);
  for (let x = 0; x < w; x++) { touches[bg.labels[x]!] = 1; touches[bg.labels[(h - 1) * w + x]!] = 1; }
  for (let y = 0; y < h; y++) { touches[bg.labels[y * w]!] = 1; touches[bg.labels[y * w + w - 1]!] = 1; }
  for (let p = 0; p < mask.length; p++) {
    const l = bg.labels[p]!;
    if (l > 0 && !touches[l] && bg.areas[l - 1]! <= maxHole) mask[p] = 1;
  }
  const fg = labelComponents(mask, w, h);
  for (let p = 0; p < mask.length; p++) {
    const l = fg.labels[p]!;
    if (l > 0 && fg.areas[l - 1]! < minSpeck) mask[p] = 0;
  }
  return { mask, threshold };
}
