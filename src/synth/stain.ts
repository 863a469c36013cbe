import { readFileSync } from 'node:fs';
import { REFERENCE_DIR } from '../reference/build.ts';
import { Rng } from '../util/random.ts';

export type Rgb = [number, number, number];

/**
 * The tissue palette (PAS), from glass to dark nuclei: lumen, cytoplasm, interstitium and
 * membrane are k-means centres (k = 10) of pixels of 32 of the 218 real tiles of
 * ../shared/hubmap-real (every seventh), named by what they cover; glass, nuclei and red cells
 * were picked by eye from the same tiles.
 * The magenta family (PAS-positive: membranes, interstitium) and the lavender-blue one
 * (cytoplasm, haematoxylin nuclei) keep their real order in each channel, which is what the
 * colour map (histogram matching) preserves.
 */
export const BASE_PALETTE = {
  glass: [232, 224, 236] as Rgb,
  lumen: [221, 205, 224] as Rgb,
  cytoplasmLight: [188, 143, 200] as Rgb,
  cytoplasm: [163, 121, 181] as Rgb,
  stromaLight: [180, 109, 189] as Rgb,
  stroma: [157, 88, 169] as Rgb,
  membrane: [117, 42, 133] as Rgb,
  nucleus: [112, 74, 148] as Rgb,
  nucleusDark: [80, 40, 118] as Rgb,
  blood: [196, 172, 184] as Rgb,
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
  /** Per-WSI gain of each channel after the colour map (the stain's hue shift); 1 where real tiles of the WSI set its colours. */
  channelGain: Rgb;
  /** Cumulative histograms (0..1, 256 bins) of R, G and B over the real tiles of this WSI, or of all real tiles. */
  reference: [Float64Array, Float64Array, Float64Array];
  /** Amplitude of the real tiles' fine texture (`fineTextureSd`, mean over this WSI's tiles, or all real tiles'). */
  fineSd: number;
  /** Whether `reference` is this WSI's own (its colours and brightness are the real ones). */
  ownReference: boolean;
  /** Colour of bare glass in the finished tile: the real WSI's, or all real tiles' times `channelGain`. */
  glassRgb: Rgb;
}

interface RealColour { cdf: WsiStain['reference']; fineSd: number; glass: number; glassRgb: Rgb }
let colourCache: Map<string, RealColour> | null = null;

/** Per-WSI channel histograms and fine-texture amplitude of real tiles (assets/reference/real_colour.json, from scripts/real-colour.ts); key 'all' pools them. */
function realColour(): Map<string, RealColour> {
  if (colourCache) return colourCache;
  const json = JSON.parse(readFileSync(REFERENCE_DIR + 'real_colour.json', 'utf8')) as { wsis: Record<string, { cdf: number[][]; fineSd: number; glass: number; glassRgb: Rgb }> };
  colourCache = new Map(Object.entries(json.wsis).map(([k, v]) => [k, { cdf: v.cdf.map((c) => Float64Array.from(c)) as WsiStain['reference'], fineSd: v.fineSd, glass: v.glass, glassRgb: v.glassRgb }]));
  return colourCache;
}

/** Share of a WSI's real tiles' area that is bare glass (`glassMask`), or of all real tiles' for a WSI without real tiles. */
export function realGlassShare(wsi: number): number {
  return (realColour().get(String(wsi)) ?? realColour().get('all')!).glass;
}

/**
 * A WSI's stain. For a WSI with real tiles (1-4): their colours, as they are. For the others:
 * the colours of all real tiles turned by a per-WSI red/blue and green shift (`shift` scales
 * it), brightness and contrast set to the real WSI's tile statistics (tile_stats.csv). The
 * fine-texture amplitude and the glass's colour: the WSI's own real tiles', or all real tiles'.
 */
export function wsiStain(seed: number, wsi: number, shift: number): WsiStain {
  const rng = Rng.of(seed, 0x57a1, wsi);
  const redBlue = rng.normal(0, 0.06 * shift);
  const green = rng.normal(0, 0.04 * shift);
  const own = realColour().get(String(wsi));
  const colour = own ?? realColour().get('all')!;
  const all = realIntensities();
  const channelGain: Rgb = own ? [1, 1, 1] : [1 + redBlue, 1 + green, 1 - redBlue];
  return {
    palette: BASE_PALETTE,
    intensity: all.get(wsi) ?? all.get(0)!,
    channelGain,
    reference: colour.cdf,
    fineSd: colour.fineSd,
    ownReference: own !== undefined,
    glassRgb: colour.glassRgb.map((v, c) => Math.min(255, v * channelGain[c]!)) as Rgb,
  };
}
