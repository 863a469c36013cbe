import { maskComponents } from '../data/contour.ts';
import type { Point } from '../data/rasterize.ts';
import type { Annotation } from '../data/types.ts';
import type { NoiseConfig } from './config.ts';
import { Rng } from '../util/random.ts';
import type { LocalMask, TruthInstance } from './render.ts';

const S = 512;
/** Pieces of objects smaller than this (slivers at tile edges) are not labelled. */
const MIN_AREA = 12;

/** Polygons of a local mask in tile coordinates: one per 8-connected piece of at least MIN_AREA pixels. */
export function maskPolygons(m: LocalMask): Point[][] {
  return maskComponents(m.data, m.w, m.h)
    .filter((c) => c.area >= MIN_AREA)
    .map((c) => c.ring.map(([x, y]) => [x + m.x0, y + m.y0] as Point));
}

/** What an expert traces: every vessel tightly, ambiguous ones as unsure, glomeruli. */
export function expertLabels(truth: readonly TruthInstance[]): Annotation[] {
  return truth.flatMap((t) => maskPolygons(t.mask).map((ring) => ({ type: t.type, coordinates: [ring] })));
}

/** 4-neighbour erosion of a local mask. */
function erode(m: LocalMask, times: number): LocalMask {
  let cur = m.data;
  for (let t = 0; t < times; t++) {
    const next = new Uint8Array(cur.length);
    for (let y = 1; y < m.h - 1; y++) {
      for (let x = 1; x < m.w - 1; x++) {
        const p = y * m.w + x;
        next[p] = cur[p]! & cur[p - 1]! & cur[p + 1]! & cur[p - m.w]! & cur[p + m.w]!;
      }
    }
    cur = next;
  }
  return { ...m, data: cur };
}

function shiftRing(ring: Point[], dx: number, dy: number): Point[] {
  return ring.map(([x, y]) => [Math.min(S - 1, Math.max(0, x + dx)), Math.min(S - 1, Math.max(0, y + dy))] as Point);
}

/** What happened to each true vessel in the non-expert labels; the tests measure the rates from it. */
export interface NoiseLog {
  vessels: number;
  missed: number;
  shrunk: number;
  shifted: number;
  falseVessels: number;
  duplicates: number;
}

/**
 * The non-expert labeller (dataset 2), a documented noise model:
 * - each true vessel is missed with probability `missRate`;
 * - kept vessels are drawn smaller (eroded 1-3 px) with probability `shrinkRate` and shifted
 *   2-4 px with probability `shiftRate`;
 * - ambiguous vessels are labelled `unsure` with probability `unsureRate`, otherwise as a vessel
 *   or missed, half and half;
 * - Poisson(`falseVesselsPerTile`) tubule lumens are labelled as vessels;
 * - glomeruli are labelled as experts do;
 * - each annotation is written twice, exactly, with probability `duplicateRate`.
 */
export function noisyLabels(truth: readonly TruthInstance[], lumens: readonly LocalMask[], noise: NoiseConfig, rng: Rng, log: NoiseLog): Annotation[] {
  const out: Annotation[] = [];
  for (const t of truth) {
    if (t.type === 'glomerulus') {
      for (const ring of maskPolygons(t.mask)) out.push({ type: 'glomerulus', coordinates: [ring] });
      continue;
    }
    let type: Annotation['type'] = 'blood_vessel';
    if (t.type === 'unsure') {
      if (rng.chance(noise.unsureRate)) type = 'unsure';
      else if (rng.chance(0.5)) continue;
    } else {
      log.vessels++;
      if (rng.chance(noise.missRate)) {
        log.missed++;
        continue;
      }
    }
    let mask = t.mask;
    if (rng.chance(noise.shrinkRate)) {
      const eroded = erode(mask, rng.int(1, 3));
      if (eroded.data.some((v) => v)) {
        mask = eroded;
        if (t.type === 'blood_vessel') log.shrunk++;
      }
    }
    let rings = maskPolygons(mask);
    if (rng.chance(noise.shiftRate)) {
      const angle = rng.uniform(0, 2 * Math.PI), d = rng.uniform(2, 4);
      rings = rings.map((r) => shiftRing(r, Math.round(d * Math.cos(angle)), Math.round(d * Math.sin(angle))));
      if (t.type === 'blood_vessel') log.shifted++;
    }
    for (const ring of rings) out.push({ type, coordinates: [ring] });
  }
  const candidates = [...lumens];
  for (let k = rng.poisson(noise.falseVesselsPerTile); k > 0 && candidates.length > 0; k--) {
    const lumen = candidates.splice(rng.int(0, candidates.length - 1), 1)[0]!;
    const rings = maskPolygons(lumen);
    if (rings.length === 0) continue;
    out.push({ type: 'blood_vessel', coordinates: [rings[0]!] });
    log.falseVessels++;
  }
  const withDuplicates: Annotation[] = [];
  for (const a of out) {
    withDuplicates.push(a);
    if (rng.chance(noise.duplicateRate)) {
      withDuplicates.push({ type: a.type, coordinates: a.coordinates.map((r) => r.map((p) => [p[0], p[1]] as Point)) });
      log.duplicates++;
    }
  }
  return withDuplicates;
}
