/**
 * Bare glass in a tile, measured the same way on real and synthetic tiles: a pixel is glass
 * when it is bright and unsaturated and so is almost all of the 33 x 33 px square around it
 * (so the white lumens of tubules and vessels, rarely that wide, mostly do not count; a tissue
 * edge's last 15 px of glass do not either, on both sides alike). scripts/real-colour.ts stores each
 * real WSI's share and colour of glass; the generator paints that much, in that colour.
 */

/** Half the side of the square a glass pixel's neighbourhood is, px. */
const REACH = 16;
/** Share of the neighbourhood that must look like glass. */
const FULL = 0.95;

/** Bright (brightest channel above 195) and unsaturated (channels within 15% of it). */
function looksLikeGlass(r: number, g: number, b: number): boolean {
  const max = Math.max(r, g, b), min = Math.min(r, g, b);
  return max > 195 && max - min < 0.15 * max;
}

/** 1 where an RGB image (w x h, interleaved) shows bare glass. */
export function glassMask(rgb: Uint8Array, w: number, h: number): Uint8Array {
  const like = new Uint8Array(w * h);
  for (let p = 0; p < w * h; p++) like[p] = looksLikeGlass(rgb[p * 3]!, rgb[p * 3 + 1]!, rgb[p * 3 + 2]!) ? 1 : 0;
  // Summed-area table, one row and column of zeros in front.
  const W = w + 1, sums = new Float64Array(W * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) { row += like[y * w + x]!; sums[(y + 1) * W + x + 1] = sums[y * W + x + 1]! + row; }
  }
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - REACH), y1 = Math.min(h, y + REACH + 1);
    for (let x = 0; x < w; x++) {
      if (!like[y * w + x]) continue;
      const x0 = Math.max(0, x - REACH), x1 = Math.min(w, x + REACH + 1);
      const inBox = sums[y1 * W + x1]! - sums[y0 * W + x1]! - sums[y1 * W + x0]! + sums[y0 * W + x0]!;
      out[y * w + x] = inBox >= FULL * (y1 - y0) * (x1 - x0) ? 1 : 0;
    }
  }
  return out;
}

/** How many pixels of an RGB image are bare glass (`glassMask`), and their summed colour. */
export function glassStats(rgb: Uint8Array, w: number, h: number): { pixels: number; sum: [number, number, number] } {
  const mask = glassMask(rgb, w, h);
  const sum: [number, number, number] = [0, 0, 0];
  let pixels = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    pixels++;
    for (let c = 0; c < 3; c++) sum[c] += rgb[p * 3 + c]!;
  }
  return { pixels, sum };
}
