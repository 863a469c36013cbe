import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { REFERENCE_DIR } from '../reference/build.ts';
import { Rng } from '../util/random.ts';

export type Rgb = [number, number, number];

/**
 * The tissue palette, PAS stain: k-means centres of the real training tile (WSI 2) in
 * assets/reference, from pale lumen to dark nuclei.
 */
export const BASE_PALETTE = {
  lumen: [218, 200, 226] as Rgb,
  cytoplasmLight: [180, 139, 202] as Rgb,
  cytoplasm: [155, 102, 183] as Rgb,
  stroma: [133, 74, 166] as Rgb,
  membrane: [108, 50, 148] as Rgb,
  nucleus: [76, 28, 124] as Rgb,
  blood: [196, 84, 118] as Rgb,
};
export type Palette = typeof BASE_PALETTE;

/** Per-WSI brightness statistics of real tiles (`tile_stats.csv`): mean and spread of tile means and stds. */
export interface WsiIntensity {
  mean: number;
  meanSd: number;
  std: number;
  stdSd: number;
}

let intensityCache: Map<number, WsiIntensity> | null = null;

function meanSd(values: number[]): [number, number] {
  const m = values.reduce((s, v) => s + v, 0) / values.length;
  const v = values.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(values.length - 1, 1);
  return [m, Math.sqrt(v)];
}

/** Real per-WSI intensity statistics; key 0 holds all tiles together (for WSIs the real data lacks). */
export function realIntensities(): Map<number, WsiIntensity> {
  if (intensityCache) return intensityCache;
  const wsiOf = new Map<string, number>();
  for (const line of readFileSync(REFERENCE_DIR + 'tile_meta.csv', 'utf8').trim().split('\n').slice(1)) {
    const [id, wsi] = line.split(',');
    wsiOf.set(id!, Number(wsi));
  }
  const groups = new Map<number, { means: number[]; stds: number[] }>();
  for (const line of readFileSync(REFERENCE_DIR + 'tile_stats.csv', 'utf8').trim().split('\n').slice(1)) {
    const [id, mean, std] = line.split(',');
    for (const key of [wsiOf.get(id!) ?? 0, 0]) {
      const g = groups.get(key) ?? { means: [], stds: [] };
      g.means.push(Number(mean));
      g.stds.push(Number(std));
      groups.set(key, g);
    }
  }
  intensityCache = new Map([...groups].map(([k, g]) => {
    const [mean, msd] = meanSd(g.means);
    const [std, ssd] = meanSd(g.stds);
    return [k, { mean, meanSd: msd, std, stdSd: ssd }];
  }));
  return intensityCache;
}

export interface WsiStain {
  palette: Palette;
  intensity: WsiIntensity;
  /** Per-WSI gain of each channel after histogram matching (the stain's hue shift). */
  channelGain: Rgb;
  /** Cumulative histograms (0..1, 256 bins) of the real PAS tile's R, G and B channels. */
  reference: [Float64Array, Float64Array, Float64Array];
}

let referenceCache: WsiStain['reference'] | null = null;

/** Channel histograms of the real training tile (assets/reference/trn_img_0006ff2aa7cd.png), decoded once. */
function referenceHistograms(): WsiStain['reference'] {
  if (referenceCache) return referenceCache;
  const png = PNG.sync.read(readFileSync(REFERENCE_DIR + 'trn_img_0006ff2aa7cd.png'));
  const cdfs = [0, 1, 2].map(() => new Float64Array(256)) as WsiStain['reference'];
  const n = png.width * png.height;
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) cdfs[c][png.data[p * 4 + c]!]! += 1 / n;
  for (const cdf of cdfs) for (let v = 1; v < 256; v++) cdf[v]! += cdf[v - 1]!;
  referenceCache = cdfs;
  return cdfs;
}

/**
 * A WSI's stain: the real tile's colours (histogram matching) turned by a per-WSI red/blue
 * and green shift, the palette's saturation varied; brightness follows the real WSI's statistics.
 * `shift` scales the variation.
 */
export function wsiStain(seed: number, wsi: number, shift: number): WsiStain {
  const rng = Rng.of(seed, 0x57a1, wsi);
  const redBlue = rng.normal(0, 0.06 * shift);
  const saturation = 1 + rng.normal(0, 0.12 * shift);
  const green = rng.normal(0, 0.04 * shift);
  const palette = Object.fromEntries(Object.entries(BASE_PALETTE).map(([name, [r, g, b]]) => {
    const grey = (r + g + b) / 3;
    const sat = (v: number) => grey + (v - grey) * saturation;
    return [name, [sat(r) * (1 + redBlue), sat(g) * (1 + green), sat(b) * (1 - redBlue)] as Rgb];
  })) as Palette;
  const all = realIntensities();
  return {
    palette,
    intensity: all.get(wsi) ?? all.get(0)!,
    channelGain: [1 + redBlue, 1 + green, 1 - redBlue],
    reference: referenceHistograms(),
  };
}
