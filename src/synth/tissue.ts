import { fieldSeed, valueNoiseAt, valueNoiseField } from './noise.ts';

/**
 * Where a WSI world has no tissue: glass at the section's edges and in its tears, the low
 * values of a smooth two-octave field over the WSI. Real tiles show it (ragged tissue edges
 * beside bare slide); objects that would touch it are not placed, so no label is ever cut.
 */
const BROAD = 1100, DETAIL = 280;
/** The two octaves weighted into one level. */
const octaves = (broad: number, detail: number) => 0.75 * broad + 0.25 * detail;
const level = (s1: number, s2: number, x: number, y: number) => octaves(valueNoiseAt(s1, x, y, BROAD), valueNoiseAt(s2, x, y, DETAIL));

const thresholds = new Map<number, number>();
/** The field value below which a share `share` of the area is glass (the field's distribution is the same for every seed). */
function thresholdFor(share: number): number {
  if (share <= 0) return -Infinity;
  const hit = thresholds.get(share);
  if (hit !== undefined) return hit;
  const values: number[] = [];
  for (let j = 0; j < 160; j++) for (let i = 0; i < 160; i++) values.push(level(0x51de, 0x7a55, i * 1373.3, j * 1129.7));
  values.sort((a, b) => a - b);
  const t = values[Math.min(values.length - 1, Math.floor(share * values.length))]!;
  thresholds.set(share, t);
  return t;
}

export class TissueMap {
  private readonly s1: number;
  private readonly s2: number;
  readonly threshold: number;

  constructor(seed: number, wsi: number, glassShare: number) {
    this.s1 = fieldSeed(seed, wsi, 21);
    this.s2 = fieldSeed(seed, wsi, 22);
    this.threshold = thresholdFor(glassShare);
  }

  /** Whether (x, y) lies on glass (the field alone, without the ragged edge `glass` adds). */
  glassAt(x: number, y: number): boolean {
    return this.threshold !== -Infinity && level(this.s1, this.s2, x, y) < this.threshold;
  }

  /** Whether glass comes within `r` (+ a margin) of (x, y): the centre and 12 points around it are checked against a raised threshold. */
  glassNear(x: number, y: number, r: number): boolean {
    if (this.threshold === -Infinity) return false;
    const t = this.threshold + 0.05;
    if (level(this.s1, this.s2, x, y) < t) return true;
    for (let k = 0; k < 12; k++) {
      const a = (k * Math.PI) / 6;
      if (level(this.s1, this.s2, x + (r + 10) * Math.cos(a), y + (r + 10) * Math.sin(a)) < t) return true;
    }
    return false;
  }

  /**
   * The tile's glass mask (1 = glass), its edge made ragged by `rough` (a fine noise field in
   * [-1, 1]); with `stretch`, row y of the tile lies at WSI row (y0 + y) / stretch (render.ts).
   */
  glass(x0: number, y0: number, rough: Float32Array, size = 512, stretch = 1): Uint8Array {
    const out = new Uint8Array(size * size);
    if (this.threshold === -Infinity) return out;
    const broad = valueNoiseField(this.s1, x0, y0, BROAD, size, stretch);
    const detail = valueNoiseField(this.s2, x0, y0, DETAIL, size, stretch);
    for (let p = 0; p < out.length; p++) out[p] = octaves(broad[p]!, detail[p]!) + 0.006 * rough[p]! < this.threshold ? 1 : 0;
    return out;
  }
}
