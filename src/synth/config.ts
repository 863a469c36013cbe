import { z } from 'zod';

/**
 * Every knob of the synthetic generator, with its default. Presets change only the amount of
 * data; the appearance and noise models are the same for all of them.
 */
export const noiseSchema = z.object({
  missRate: z.number().min(0).max(1).default(0.2).describe('share of true vessels the non-expert labeller misses'),
  falseVesselsPerTile: z.number().min(0).default(0.6).describe('mean number of tubule lumens per tile labelled as vessels'),
  shrinkRate: z.number().min(0).max(1).default(0.3).describe('share of vessel polygons drawn smaller (eroded by 1-3 px)'),
  shiftRate: z.number().min(0).max(1).default(0.2).describe('share of vessel polygons drawn shifted (by 2-4 px)'),
  unsureRate: z.number().min(0).max(1).default(0.02).describe('share of ambiguous vessels the non-expert labels unsure (the rest: vessel or missed)'),
  duplicateRate: z.number().min(0).max(1).default(0.03).describe('share of annotations written twice, exactly'),
});

export const appearanceSchema = z.object({
  ambiguousRate: z.number().min(0).max(1).default(0.08).describe('share of vessels that are collapsed and faint (experts label them unsure)'),
  glomeruliPerTile: z.number().min(0).default(0.25).describe('mean glomeruli per tile area'),
  glassScale: z.number().min(0).max(10).default(1).describe('how much of each WSI is bare glass (section edges and tears), as a multiple of the share its real tiles show (WSI 1-4: 2.6 / 8.4 / 0.4 / 7.0%, others all real tiles\' 4.3%), at most half; no object is placed near it'),
  stroma: z.number().min(0).max(1).default(1).describe('how far the stroma zones (a smooth field over each WSI, 23% of its area) thin the tubules out: times the chance a tubule there is left out; 0: tubules packed everywhere'),
  grain: z.number().min(0).default(1.6).describe('contrast of the fine texture: cytoplasm granules, interstitial fibres, lumen debris'),
  blur: z.number().min(0).max(3).default(1).describe('scanner blur: passes of a [1 2 1]/4 filter (a fraction: one weaker pass)'),
  detail: z.boolean().default(true).describe('fit each WSI\'s fine-texture amplitude to its real tiles\' (a per-WSI gain on the detail band: the real WSIs were scanned sharper or softer); false: the painted detail as is'),
  focus: z.number().min(0).default(1.2).describe('how far the scanner\'s focus wanders over a WSI: the detail gain varies by this times a smooth field (sd 0.38, 1,024 px cells); 0: the same focus everywhere'),
  noise: z.number().min(0).default(0.8).describe('sensor noise, standard deviation in grey levels'),
  jpegQuality: z.number().int().min(0).max(100).default(70).describe('quality of the scanner\'s JPEG compression the tiles go through (Aperio\'s default 70); 0: none'),
  stainShift: z.number().min(0).default(1).describe('scale of per-WSI stain colour variation (dataset 3 WSIs get 2x)'),
  refine: z.boolean().default(true).describe('run each finished tile through the learned refiner (assets/reference/refiner.json: a 3 px filter trained against 218 real tiles, README "Synthetic data"); false: the tiles before it'),
  stretch: z.number().min(1).max(2).default(1).describe('how many times finer the scanner samples down than across, so tissue comes out that much taller than wide (the real tiles\' by about 1.2x: README); 1, the default: square pixels'),
});

export const datasetCountsSchema = z.object({
  wsi: z.number().int().min(1),
  dataset1: z.number().int().min(0).default(0),
  dataset2: z.number().int().min(0).default(0),
  dataset3: z.number().int().min(0).default(0),
});

export const synthSchema = z.object({
  seed: z.number().int().default(0),
  wsis: z.array(datasetCountsSchema).min(1),
  noise: noiseSchema.default({}),
  appearance: appearanceSchema.default({}),
});

export type SynthConfig = z.infer<typeof synthSchema>;
export type NoiseConfig = z.infer<typeof noiseSchema>;
export type AppearanceConfig = z.infer<typeof appearanceSchema>;

/** Tiles per WSI and dataset, as in the competition (full) or scaled down. */
export const PRESETS = {
  /** A few tiles, for tests: seconds. */
  tiny: [
    { wsi: 1, dataset1: 4, dataset2: 2 },
    { wsi: 2, dataset1: 2, dataset2: 2 },
    { wsi: 6, dataset3: 2 },
  ],
  /** Enough for the demo pipeline to show each stage's effect. */
  demo: [
    { wsi: 1, dataset1: 24, dataset2: 20 },
    { wsi: 2, dataset1: 16, dataset2: 24 },
    { wsi: 3, dataset2: 30 },
    { wsi: 6, dataset3: 30 },
    { wsi: 9, dataset3: 30 },
  ],
  /** The real proportions: 422 / 1,211 / 5,400 tiles over 14 WSIs. */
  full: [
    { wsi: 1, dataset1: 270, dataset2: 237 },
    { wsi: 2, dataset1: 152, dataset2: 293 },
    { wsi: 3, dataset2: 410 },
    { wsi: 4, dataset2: 271 },
    ...[6, 7, 8, 9, 10, 11, 12, 13, 14].map((wsi) => ({ wsi, dataset3: 600 })),
  ],
} as const;

export type PresetName = keyof typeof PRESETS;

export function presetConfig(preset: PresetName, seed = 0, overrides: { noise?: Partial<NoiseConfig>; appearance?: Partial<AppearanceConfig> } = {}): SynthConfig {
  return synthSchema.parse({ seed, wsis: PRESETS[preset], noise: overrides.noise ?? {}, appearance: overrides.appearance ?? {} });
}
