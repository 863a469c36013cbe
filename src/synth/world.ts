import type { Point } from '../data/rasterize.ts';
import type { AppearanceConfig } from './config.ts';
import { Rng } from '../util/random.ts';
import { fieldSeed, valueNoiseAt, valueNoiseField } from './noise.ts';
import { realGlassShare } from './stain.ts';
import { TissueMap } from './tissue.ts';
import { vesselTemplates } from './templates.ts';

/**
 * The tissue of a WSI as objects in WSI pixel coordinates, generated per 512x512 cell from
 * a stream seeded by (seed, wsi, cell). A tile is rendered from the objects of its cell and
 * the 8 around it, so neighbouring tiles join seamlessly and objects cross tile borders.
 */
export const CELL = 512;

/**
 * Tubules on a jittered lattice, 5 a cell across (102 px apart: the real tiles' tubules are
 * 100-170 px across), and their semi-major axes, px: the weights of the mosaic, so larger than
 * the half-spacing a tubule gets; render.ts sizes its lookup buckets by the largest.
 */
const TUBULES_ACROSS = 5;
export const TUBULE_MIN_A = 61, TUBULE_MAX_A = 94;
export const HALF_SPACING = CELL / TUBULES_ACROSS / 2;

export interface Vessel {
  ring: Point[]; // integer WSI coordinates
  cx: number;
  cy: number;
  radius: number;
  /** Collapsed, faint: experts label it unsure. */
  ambiguous: boolean;
  priority: number;
  /** The vessel's own random stream (its nuclei, its red cells): the same in every tile it crosses. */
  seed: number;
}

export interface Tubule {
  cx: number;
  cy: number;
  a: number; // semi-axes, px
  b: number;
  angle: number;
  lumen: number; // lumen size as a fraction of the radius
  /** How pale its cytoplasm is, -1..1 (proximal tubules darker and granular, distal paler). */
  tone: number;
  /** How much pale flocculent debris fills its lumen, 0..1. */
  debris: number;
  /** How many white vacuoles its cytoplasm holds (none in most tubules). */
  vacuoles: number;
  /** Its epithelial nuclei are vesicular (a dark rim, pale chromatin, a nucleolus) rather than solid. */
  vesicular: boolean;
  /** The tubule's own random stream (its nuclei): the same in every tile it crosses. */
  seed: number;
}

/** An interstitial nucleus (fibroblast, lymphocyte): painted only where it falls on stroma. */
export interface CellNucleus {
  x: number;
  y: number;
  len: number;
  wid: number;
  angle: number;
}

export interface Glomerulus {
  cx: number;
  cy: number;
  radius: number;
  seed: number;
  /** How many times taller than wide it comes out (the scanner's stretch, in `tileObjects`' coordinates); absent: round. */
  tall?: number;
}

interface CellObjects {
  vessels: Vessel[];
  tubules: Tubule[];
  glomeruli: Glomerulus[];
  nuclei: CellNucleus[];
}

/**
 * The ellipse of semi-axes a (along `angle`) and b stretched s times down: its semi-axes (a >= b)
 * and the angle of a, from the eigenvectors of M M^T, M = diag(1, s) R(angle) diag(a, b).
 */
export function stretchEllipse(a: number, b: number, angle: number, s: number): { a: number; b: number; angle: number } {
  const c = Math.cos(angle), n = Math.sin(angle);
  // M M^T = [[p, q], [q, r]].
  const p = a * a * c * c + b * b * n * n;
  const q = s * (a * a - b * b) * c * n;
  const r = s * s * (a * a * n * n + b * b * c * c);
  const mid = (p + r) / 2, half = Math.hypot((p - r) / 2, q);
  return { a: Math.sqrt(mid + half), b: Math.sqrt(Math.max(0, mid - half)), angle: 0.5 * Math.atan2(2 * q, p - r) };
}

/** A nucleus stretched s times down (about y = 0); s = 1: the same nucleus. */
export function stretchNucleus(n: CellNucleus, s: number): CellNucleus {
  if (s === 1) return n;
  const e = stretchEllipse(n.len, n.wid, n.angle, s);
  return { x: n.x, y: n.y * s, len: e.a, wid: e.b, angle: e.angle };
}

/** A ring of integer points stretched s times down, rounded (repeats dropped). */
function stretchRing(ring: readonly Point[], s: number): Point[] {
  const out: Point[] = [];
  for (const [x, y] of ring) {
    const q: Point = [x, Math.round(y * s)];
    const last = out[out.length - 1];
    if (!last || last[0] !== q[0] || last[1] !== q[1]) out.push(q);
  }
  return out;
}

/** Whether (x, y) lies inside the closed ring (even-odd rule). */
function insidePolygon(ring: readonly Point[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]!, [xj, yj] = ring[j]!;
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Distance from (x, y) to the nearest vertex of a ring traced at about one-pixel steps. */
function distanceToRing(ring: readonly Point[], x: number, y: number): number {
  let best = Infinity;
  for (let k = 0; k < ring.length; k++) {
    const p = ring[k]!;
    const d = (p[0] - x) ** 2 + (p[1] - y) ** 2;
    if (d < best) best = d;
  }
  return Math.sqrt(best);
}

/** Whether two vessels' outlines come within `gap` px of each other, or one lies inside the other. */
function ringsTouch(a: Vessel, b: Vessel, gap: number): boolean {
  if (Math.hypot(a.cx - b.cx, a.cy - b.cy) > a.radius + b.radius + gap + 2) return false;
  if (insidePolygon(a.ring, b.ring[0]![0], b.ring[0]![1]) || insidePolygon(b.ring, a.ring[0]![0], a.ring[0]![1])) return true;
  // Vertices within `gap` of the other ring (rings are traced at one-pixel steps).
  const near = b.ring.filter(([x, y]) => Math.hypot(x - a.cx, y - a.cy) <= a.radius + gap + 2);
  return near.some(([x, y]) => distanceToRing(a.ring, x, y) < gap);
}

/**
 * Stroma zones: where a smooth field over the WSI (900 px lattice) is high, tubules thin out
 * and then give way to plain interstitium, so some tiles show stretches of fibrous stroma with
 * its scattered nuclei and vessels, as the real tiles do, instead of cortex packed to every
 * edge. The chance that a tubule is left out rises from 0 at field value STROMA_FROM to 1 at
 * STROMA_FULL (value noise: 23% of the area thinned, 9% bare, measured over 20 fields).
 */
const STROMA_CELL = 900, STROMA_FROM = 0.35, STROMA_FULL = 0.6;

/** Objects of one WSI, cached by cell. */
export class WsiWorld {
  private readonly candidates = new Map<string, { vessels: Vessel[]; glomeruli: Glomerulus[] }>();
  private readonly kept = new Map<string, { vessels: Vessel[]; glomeruli: Glomerulus[] }>();
  private readonly finals = new Map<string, CellObjects>();

  readonly tissue: TissueMap;
  private readonly stromaSeed: number;

  constructor(readonly seed: number, readonly wsi: number, readonly appearance: AppearanceConfig) {
    this.tissue = new TissueMap(seed, wsi, Math.min(0.5, appearance.glassScale * realGlassShare(wsi)));
    this.stromaSeed = fieldSeed(seed, wsi, 23);
  }

  /** The chance that the stroma zone at (x, y) leaves a tubule out, 0..1 (`appearance.stroma` scales it). */
  private stroma(x: number, y: number): number {
    return this.stromaOf(valueNoiseAt(this.stromaSeed, x, y, STROMA_CELL));
  }

  private stromaOf(field: number): number {
    return this.appearance.stroma * Math.min(1, Math.max(0, (field - STROMA_FROM) / (STROMA_FULL - STROMA_FROM)));
  }

  /** The stroma zones over the tile whose upper-left corner is pixel (x0, y0) (`tileObjects`' coordinates), 0..1 a pixel, as `stroma` gives them (render.ts loosens the interstitium there). */
  stromaZones(x0: number, y0: number): Float32Array {
    const field = valueNoiseField(this.stromaSeed, x0, y0, STROMA_CELL, 512, this.appearance.stretch);
    for (let p = 0; p < field.length; p++) field[p] = this.stromaOf(field[p]!);
    return field;
  }

  /** Vessel and glomerulus candidates of a cell, drawn independently of every other cell. */
  private cellCandidates(cx: number, cy: number): { vessels: Vessel[]; glomeruli: Glomerulus[] } {
    const key = `${cx},${cy}`;
    const hit = this.candidates.get(key);
    if (hit) return hit;
    const rng = Rng.of(this.seed, this.wsi, cx, cy, 1);
    const { templates, countsPerTile } = vesselTemplates();
    const glomeruli: Glomerulus[] = [];
    // `stretch` times the rate per tile: a tile sees 1 / stretch of a cell's height (render.ts, scanTile).
    const { stretch } = this.appearance;
    for (let k = rng.poisson(this.appearance.glomeruliPerTile * stretch); k > 0; k--) {
      glomeruli.push({ cx: (cx + rng.uniform()) * CELL, cy: (cy + rng.uniform()) * CELL, radius: rng.uniform(55, 100), seed: rng.int(0, 2 ** 30) });
    }
    const vessels: Vessel[] = [];
    // Per-cell counts drawn from the real per-tile counts, a little more to allow for overlaps
    // dropped, and `stretch` times more (as the glomeruli).
    const count = Math.round(rng.pick(countsPerTile) * 1.1 * stretch);
    for (let k = 0; k < count; k++) {
      const t = rng.weighted(templates);
      const angle = rng.uniform(0, 2 * Math.PI);
      const scale = rng.uniform(0.9, 1.2);
      const flip = rng.chance(0.5) ? -1 : 1;
      const x0 = (cx + rng.uniform()) * CELL;
      const y0 = (cy + rng.uniform()) * CELL;
      const cos = Math.cos(angle) * scale, sin = Math.sin(angle) * scale;
      const ring: Point[] = [];
      // The real outlines were traced on stretched tiles: squeezed back, a vessel is drawn in
      // the WSI as it lies in the tissue, and the scanner stretches it again.
      for (const [px, sy] of t.ring) {
        const py = sy / stretch;
        const qx = Math.round(x0 + cos * px * flip - sin * py);
        const qy = Math.round(y0 + sin * px * flip + cos * py);
        const last = ring[ring.length - 1];
        if (!last || last[0] !== qx || last[1] !== qy) ring.push([qx, qy]);
      }
      vessels.push({
        ring, cx: x0, cy: y0, radius: t.radius * scale,
        ambiguous: rng.chance(this.appearance.ambiguousRate),
        priority: rng.uniform(),
        seed: rng.int(0, 2 ** 30),
      });
    }
    const out = { vessels, glomeruli };
    this.candidates.set(key, out);
    return out;
  }

  /** The vessels and glomeruli of a cell and the 8 around it, as `of` gives them per cell (candidates, or those placed). */
  private neighbourhood(cx: number, cy: number, of: (cx: number, cy: number) => { vessels: Vessel[]; glomeruli: Glomerulus[] }): { vessels: Vessel[]; glomeruli: Glomerulus[] } {
    const vessels: Vessel[] = [];
    const glomeruli: Glomerulus[] = [];
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const c = of(cx + dx, cy + dy);
        vessels.push(...c.vessels);
        glomeruli.push(...c.glomeruli);
      }
    }
    return { vessels, glomeruli };
  }

  /** The vessels and glomeruli a cell keeps: overlaps resolved the same way whichever tile asks. */
  private placed(cx: number, cy: number): { vessels: Vessel[]; glomeruli: Glomerulus[] } {
    const key = `${cx},${cy}`;
    const hit = this.kept.get(key);
    if (hit) return hit;
    const own = this.cellCandidates(cx, cy);
    const near = this.neighbourhood(cx, cy, (x, y) => this.cellCandidates(x, y));
    // Glomeruli: drop one that overlaps a glomerulus with a larger radius, or glass.
    const glomeruli = own.glomeruli.filter((g) => !near.glomeruli.some((o) => o !== g && o.radius > g.radius && Math.hypot(o.cx - g.cx, o.cy - g.cy) < o.radius + g.radius) &&
      !this.tissue.glassNear(g.cx, g.cy, g.radius));
    // Vessels: not touching a glomerulus, not near glass, and not touching a vessel of higher
    // priority (by their outlines, 3 px apart at least: true objects never share pixels). The
    // rules look only at candidates, so every tile that asks gets the same answer.
    const vessels = own.vessels.filter((v) =>
      !near.glomeruli.some((g) => Math.hypot(g.cx - v.cx, g.cy - v.cy) < g.radius + v.radius + 3 && v.ring.some(([x, y]) => Math.hypot(x - g.cx, y - g.cy) < g.radius + 3)) &&
      !this.tissue.glassNear(v.cx, v.cy, v.radius) &&
      !near.vessels.some((o) => o !== v && o.priority > v.priority && ringsTouch(o, v, 3)));
    const out = { vessels, glomeruli };
    this.kept.set(key, out);
    return out;
  }

  /** The final objects of a cell: its vessels and glomeruli, and the tubules and nuclei around them. */
  cell(cx: number, cy: number): CellObjects {
    const key = `${cx},${cy}`;
    const hit = this.finals.get(key);
    if (hit) return hit;
    const { vessels, glomeruli } = this.placed(cx, cy);
    // Tubules fill the rest on a jittered grid. Real tubules crowd right up to the capillaries
    // between them, so a vessel or glomerulus near a tubule cuts it (render.ts keeps their
    // outlines clear) rather than shrinking it; only one near its centre shrinks it, to twice
    // the room left (dropped where that leaves it under 16 px). A few grid places stay
    // empty (wider interstitium).
    const rng = Rng.of(this.seed, this.wsi, cx, cy, 2);
    const tubules: Tubule[] = [];
    const spacing = CELL / TUBULES_ACROSS;
    const around = this.neighbourhood(cx, cy, (x, y) => this.placed(x, y));
    for (let gy = 0; gy < TUBULES_ACROSS; gy++) {
      for (let gx = 0; gx < TUBULES_ACROSS; gx++) {
        const tx = cx * CELL + (gx + 0.5) * spacing + rng.normal(0, 26);
        const ty = cy * CELL + (gy + 0.5) * spacing + rng.normal(0, 26);
        let a = rng.uniform(TUBULE_MIN_A, TUBULE_MAX_A);
        const b = a * rng.uniform(0.6, 1);
        const angle = rng.uniform(0, Math.PI);
        const lumen = rng.uniform(0.15, 0.55);
        const tone = rng.uniform(-1, 1);
        const debris = rng.uniform() ** 2;
        const vesicular = rng.chance(0.6);
        const vacuoles = rng.chance(0.12) ? Math.round(rng.uniform(0.2, 1) * a * b / 60) : 0;
        const seed = rng.int(0, 2 ** 30);
        if (rng.chance(0.03)) continue;
        if (rng.uniform() < this.stroma(tx, ty)) continue;
        if (this.tissue.glassAt(tx, ty)) continue; // the section tore along the interstitium: whole tubules line its edge
        let room = a; // px from the centre to the nearest vessel or glomerulus, at most a
        for (const g of around.glomeruli) room = Math.min(room, Math.hypot(g.cx - tx, g.cy - ty) - g.radius - 2);
        for (const v of around.vessels) {
          if (Math.hypot(v.cx - tx, v.cy - ty) > v.radius + a + 4) continue;
          room = Math.min(room, insidePolygon(v.ring, tx, ty) ? -1 : distanceToRing(v.ring, tx, ty) - 3);
        }
        const fit = Math.min(a, 2 * room);
        if (fit < 16) continue;
        const scale = fit / a; // <= 1
        a *= scale;
        tubules.push({ cx: tx, cy: ty, a, b: b * scale, angle, lumen, tone, debris, vacuoles, vesicular, seed });
      }
    }
    // Interstitial nuclei: elongated fibroblasts and round lymphocytes.
    const nuclei: CellNucleus[] = [];
    for (let k = rng.poisson(150); k > 0; k--) {
      const round = rng.chance(0.3);
      const len = round ? rng.uniform(3, 4) : rng.uniform(4, 7);
      nuclei.push({ x: (cx + rng.uniform()) * CELL, y: (cy + rng.uniform()) * CELL, len, wid: round ? len * rng.uniform(0.8, 1) : rng.uniform(1.6, 2.6), angle: rng.uniform(0, Math.PI) });
    }
    const out = { vessels, tubules, glomeruli, nuclei };
    this.finals.set(key, out);
    return out;
  }

  /**
   * Every object that may touch the tile whose upper-left corner is pixel (x0, y0), as the
   * scanner sees it: with `appearance.stretch` s its rows are s times finer than its columns, so
   * pixel (x, y) looks at WSI point (x, y / s) and every object comes out s times taller
   * (tubules, nuclei and glomeruli as ellipses, vessel outlines point by point). Drawn this way,
   * objects are stretched while the tile's noise fields stay on square pixels. Stretch 1: the
   * WSI's objects as they are.
   */
  tileObjects(x0: number, y0: number): CellObjects {
    const s = this.appearance.stretch;
    if (s === 1) return this.objectsNear(x0, y0);
    return this.around(Math.floor(x0 / CELL), Math.floor(y0 / s / CELL), (cx, cy) => this.scannedCell(cx, cy));
  }

  private readonly scanned = new Map<string, CellObjects>();
  /** A cell's objects stretched by `appearance.stretch` down (`tileObjects`). */
  private scannedCell(cx: number, cy: number): CellObjects {
    const key = `${cx},${cy}`;
    const hit = this.scanned.get(key);
    if (hit) return hit;
    const s = this.appearance.stretch;
    const c = this.cell(cx, cy);
    const out: CellObjects = {
      vessels: c.vessels.map((v) => ({ ...v, ring: stretchRing(v.ring, s), cy: v.cy * s, radius: v.radius * s })),
      tubules: c.tubules.map((t) => { const e = stretchEllipse(t.a, t.b, t.angle, s); return { ...t, cy: t.cy * s, ...e }; }),
      glomeruli: c.glomeruli.map((g) => ({ ...g, cy: g.cy * s, tall: s })),
      nuclei: c.nuclei.map((n) => stretchNucleus(n, s)),
    };
    this.scanned.set(key, out);
    return out;
  }

  /** Every object that may touch the tile whose upper-left corner is (x, y), in WSI coordinates. */
  objectsNear(x: number, y: number): CellObjects {
    return this.around(Math.floor(x / CELL), Math.floor(y / CELL), (cx, cy) => this.cell(cx, cy));
  }

  /** The objects of cell (cx, cy) and the 8 around it, as `of` gives them per cell, row by row. */
  private around(cx: number, cy: number, of: (cx: number, cy: number) => CellObjects): CellObjects {
    const out: CellObjects = { vessels: [], tubules: [], glomeruli: [], nuclei: [] };
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const c = of(cx + dx, cy + dy);
        out.vessels.push(...c.vessels);
        out.tubules.push(...c.tubules);
        out.glomeruli.push(...c.glomeruli);
        out.nuclei.push(...c.nuclei);
      }
    }
    return out;
  }
}
