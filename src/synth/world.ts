import type { Point } from '../data/rasterize.ts';
import type { AppearanceConfig } from './config.ts';
import { Rng } from '../util/random.ts';
import { vesselTemplates } from './templates.ts';

/**
 * The tissue of a WSI as objects in WSI pixel coordinates, generated per 512x512 cell from
 * a stream seeded by (seed, wsi, cell). A tile is rendered from the objects of its cell and
 * the 8 around it, so neighbouring tiles join seamlessly and objects cross tile borders.
 */
export const CELL = 512;

export interface Vessel {
  ring: Point[]; // integer WSI coordinates
  cx: number;
  cy: number;
  radius: number;
  /** Collapsed, faint: experts label it unsure. */
  ambiguous: boolean;
  bloodCells: number;
  priority: number;
}

export interface Tubule {
  cx: number;
  cy: number;
  a: number; // semi-axes, px
  b: number;
  angle: number;
  lumen: number; // lumen size as a fraction of the radius
  wobble: [number, number, number, number]; // outline harmonics: amplitude and phase of orders 3 and 5
  nucleusPhase: number;
}

export interface Glomerulus {
  cx: number;
  cy: number;
  radius: number;
  seed: number;
}

interface CellObjects {
  vessels: Vessel[];
  tubules: Tubule[];
  glomeruli: Glomerulus[];
}

/** Objects of one WSI, cached by cell. */
export class WsiWorld {
  private readonly candidates = new Map<string, { vessels: Vessel[]; glomeruli: Glomerulus[] }>();
  private readonly finals = new Map<string, CellObjects>();

  constructor(readonly seed: number, readonly wsi: number, readonly appearance: AppearanceConfig) {}

  /** Vessel and glomerulus candidates of a cell, drawn independently of every other cell. */
  private cellCandidates(cx: number, cy: number): { vessels: Vessel[]; glomeruli: Glomerulus[] } {
    const key = `${cx},${cy}`;
    const hit = this.candidates.get(key);
    if (hit) return hit;
    const rng = Rng.of(this.seed, this.wsi, cx, cy, 1);
    const { templates, countsPerTile } = vesselTemplates();
    const glomeruli: Glomerulus[] = [];
    for (let k = rng.poisson(this.appearance.glomeruliPerTile); k > 0; k--) {
      glomeruli.push({ cx: (cx + rng.uniform()) * CELL, cy: (cy + rng.uniform()) * CELL, radius: rng.uniform(55, 100), seed: rng.int(0, 2 ** 30) });
    }
    const vessels: Vessel[] = [];
    // Per-cell counts drawn from the real per-tile counts, a little more to allow for overlaps dropped.
    const count = Math.round(rng.pick(countsPerTile) * 1.1);
    for (let k = 0; k < count; k++) {
      const t = rng.weighted(templates);
      const angle = rng.uniform(0, 2 * Math.PI);
      const scale = rng.uniform(0.9, 1.2);
      const flip = rng.chance(0.5) ? -1 : 1;
      const x0 = (cx + rng.uniform()) * CELL;
      const y0 = (cy + rng.uniform()) * CELL;
      const cos = Math.cos(angle) * scale, sin = Math.sin(angle) * scale;
      const ring: Point[] = [];
      for (const [px, py] of t.ring) {
        const qx = Math.round(x0 + cos * px * flip - sin * py);
        const qy = Math.round(y0 + sin * px * flip + cos * py);
        const last = ring[ring.length - 1];
        if (!last || last[0] !== qx || last[1] !== qy) ring.push([qx, qy]);
      }
      vessels.push({
        ring, cx: x0, cy: y0, radius: t.radius * scale,
        ambiguous: rng.chance(this.appearance.ambiguousRate),
        bloodCells: rng.chance(0.4) ? rng.int(1, 6) : 0,
        priority: rng.uniform(),
      });
    }
    const out = { vessels, glomeruli };
    this.candidates.set(key, out);
    return out;
  }

  private neighbourhood(cx: number, cy: number): { vessels: Vessel[]; glomeruli: Glomerulus[] } {
    const vessels: Vessel[] = [];
    const glomeruli: Glomerulus[] = [];
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const c = this.cellCandidates(cx + dx, cy + dy);
        vessels.push(...c.vessels);
        glomeruli.push(...c.glomeruli);
      }
    }
    return { vessels, glomeruli };
  }

  /** The final objects of a cell: overlaps resolved the same way whichever tile asks. */
  cell(cx: number, cy: number): CellObjects {
    const key = `${cx},${cy}`;
    const hit = this.finals.get(key);
    if (hit) return hit;
    const own = this.cellCandidates(cx, cy);
    const near = this.neighbourhood(cx, cy);
    // Glomeruli: drop one that overlaps a glomerulus with a larger radius.
    const glomeruli = own.glomeruli.filter((g) => !near.glomeruli.some((o) => o !== g && o.radius > g.radius && Math.hypot(o.cx - g.cx, o.cy - g.cy) < o.radius + g.radius));
    // Vessels: not inside a glomerulus, and not overlapping a vessel of higher priority.
    const vessels = own.vessels.filter((v) =>
      !near.glomeruli.some((g) => Math.hypot(g.cx - v.cx, g.cy - v.cy) < g.radius + v.radius * 0.5) &&
      !near.vessels.some((o) => o !== v && o.priority > v.priority && Math.hypot(o.cx - v.cx, o.cy - v.cy) < (o.radius + v.radius) * 0.6));
    // Tubules fill the rest on a jittered grid, kept off vessels and glomeruli.
    const rng = Rng.of(this.seed, this.wsi, cx, cy, 2);
    const tubules: Tubule[] = [];
    const spacing = 78;
    for (let gy = 0; gy < CELL / spacing; gy++) {
      for (let gx = 0; gx < CELL / spacing; gx++) {
        const tx = cx * CELL + (gx + 0.5) * spacing + rng.normal(0, 12);
        const ty = cy * CELL + (gy + 0.5) * spacing + rng.normal(0, 12);
        let a = rng.uniform(46, 70);
        const b = a * rng.uniform(0.65, 1);
        const angle = rng.uniform(0, Math.PI);
        const lumen = rng.uniform(0.12, 0.45);
        const wobble: Tubule['wobble'] = [rng.uniform(0, 0.08), rng.uniform(0, 6.3), rng.uniform(0, 0.05), rng.uniform(0, 6.3)];
        const nucleusPhase = rng.uniform(0, 6.3);
        let scale = 1;
        for (const o of [...near.glomeruli.map((g) => ({ x: g.cx, y: g.cy, r: g.radius })), ...near.vessels.map((v) => ({ x: v.cx, y: v.cy, r: v.radius }))]) {
          const d = Math.hypot(o.x - tx, o.y - ty);
          scale = Math.min(scale, (d - o.r * 0.6) / a);
        }
        if (scale * a < 16) continue;
        a *= Math.min(1, scale);
        tubules.push({ cx: tx, cy: ty, a, b: b * Math.min(1, scale), angle, lumen, wobble, nucleusPhase });
      }
    }
    const out = { vessels, tubules, glomeruli };
    this.finals.set(key, out);
    return out;
  }

  /** Every object that may touch the tile whose upper-left corner is (x, y). */
  objectsNear(x: number, y: number): CellObjects {
    const cx = Math.floor(x / CELL), cy = Math.floor(y / CELL);
    const out: CellObjects = { vessels: [], tubules: [], glomeruli: [] };
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const c = this.cell(cx + dx, cy + dy);
        out.vessels.push(...c.vessels);
        out.tubules.push(...c.tubules);
        out.glomeruli.push(...c.glomeruli);
      }
    }
    return out;
  }
}
