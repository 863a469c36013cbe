/**
 * The fine texture of a tile (its grey levels minus their Gaussian blur, sigma 1.5 px): the
 * detail a scanner's optics and focus leave. Its amplitude differs between the real WSIs in
 * opposite directions (WSI 1's is the strongest, WSI 2's the weakest), so the generator sets
 * it per WSI (render.ts: a gain on the detail band, fitted to the real tiles' amplitude, which
 * scripts/real-colour.ts stores per WSI in assets/reference/real_colour.json).
 */

const SIGMA = 1.5;
const RADIUS = 5;
const KERNEL = (() => {
  const k = Array.from({ length: 2 * RADIUS + 1 }, (_, i) => Math.exp(-((i - RADIUS) ** 2) / (2 * SIGMA * SIGMA)));
  const sum = k.reduce((s, v) => s + v, 0);
  return Float32Array.from(k, (v) => v / sum);
})();

/** Separable Gaussian blur (sigma 1.5) of a w x h grey image, edges clamped. */
function gaussian(grey: Float32Array, w: number, h: number): Float32Array {
  const tmp = new Float32Array(w * h), out = new Float32Array(w * h);
  const clampTo = (v: number, n: number) => (v < 0 ? 0 : v >= n ? n - 1 : v);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -RADIUS; i <= RADIUS; i++) s += KERNEL[i + RADIUS]! * grey[y * w + clampTo(x + i, w)]!;
      tmp[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -RADIUS; i <= RADIUS; i++) s += KERNEL[i + RADIUS]! * tmp[clampTo(y + i, h) * w + x]!;
      out[y * w + x] = s;
    }
  }
  return out;
}

/** Standard deviation of an RGB image's fine texture: luma (BT.601) minus its Gaussian blur. */
export function fineTextureSd(rgb: Uint8Array, w: number, h: number): number {
  const grey = new Float32Array(w * h);
  for (let p = 0; p < w * h; p++) grey[p] = 0.299 * rgb[p * 3]! + 0.587 * rgb[p * 3 + 1]! + 0.114 * rgb[p * 3 + 2]!;
  const blurred = gaussian(grey, w, h);
  let sum = 0, sq = 0;
  for (let p = 0; p < w * h; p++) { const d = grey[p]! - blurred[p]!; sum += d; sq += d * d; }
  const n = w * h;
  return Math.sqrt(Math.max(0, sq / n - (sum / n) ** 2));
}
