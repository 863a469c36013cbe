import { fillPolygon, type Point } from '../data/rasterize.ts';
import type { RgbImage } from '../data/images.ts';
import type { AppearanceConfig } from './config.ts';
import { Rng } from '../util/random.ts';
import { fineTextureSd } from './detail.ts';
import { jpegRoundTrip } from './jpeg.ts';
import { scannerBlur } from './blur.ts';
import { finishPixels } from './finish.ts';
import { refineTile } from './refiner.ts';
import { fieldSeed, lattice, orientedNoiseField, valueNoiseField } from './noise.ts';
import type { Palette, Rgb, WsiStain } from './stain.ts';
import { HALF_SPACING, TUBULE_MAX_A, stretchNucleus, type CellNucleus, type Glomerulus, type Tubule, type Vessel, type WsiWorld } from './world.ts';

const S = 512;

/** A binary mask over the rectangle [x0, x0 + w) x [y0, y0 + h) of the tile. */
export interface LocalMask {
  x0: number;
  y0: number;
  w: number;
  h: number;
  data: Uint8Array;
}

/** A true object in the tile: what an expert would label, with its exact pixels. */
export interface TruthInstance {
  type: 'blood_vessel' | 'unsure' | 'glomerulus';
  mask: LocalMask;
  /** The object's identity in its WSI world (its centre): pieces of one object in several tiles share it. */
  key: string;
}

export interface RenderedTile {
  image: RgbImage;
  truth: TruthInstance[];
  /** Lumens of tubules in the tile: what a non-expert may mistake for vessels. */
  lumens: LocalMask[];
}

/** Float RGB canvas of the tile with a painter for coloured pixels. */
class Canvas {
  readonly px = new Float32Array(S * S * 3);
  /** Pixel = (a + (b - a) * t) * f, without allocating (the per-pixel hot path). */
  setMix(p: number, a: Rgb, b: Rgb, t: number, f = 1): void {
    const o = p * 3;
    this.px[o] = (a[0] + (b[0] - a[0]) * t) * f;
    this.px[o + 1] = (a[1] + (b[1] - a[1]) * t) * f;
    this.px[o + 2] = (a[2] + (b[2] - a[2]) * t) * f;
  }
  set(p: number, c: Rgb, alpha = 1): void {
    const o = p * 3;
    if (alpha >= 1) {
      this.px[o] = c[0]; this.px[o + 1] = c[1]; this.px[o + 2] = c[2];
    } else {
      this.px[o] += (c[0] - this.px[o]!) * alpha;
      this.px[o + 1] += (c[1] - this.px[o + 1]!) * alpha;
      this.px[o + 2] += (c[2] - this.px[o + 2]!) * alpha;
    }
  }
}

const mix = (a: Rgb, b: Rgb, t: number): Rgb => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/** The noise fields a tile is painted with, all in WSI coordinates (seamless across tiles). */
interface Fields {
  /** Grain of cytoplasm and stroma (3 px), times the appearance's `grain`. */
  fine: Float32Array;
  /** Texture at 4 px: membrane thickness, ragged edges. */
  texture: Float32Array;
  /** Lumen outlines, the debris inside them, mottling of the cytoplasm (7 px). */
  medium: Float32Array;
  /** Width of the interstitium between tubules, and where lumens hold debris (40 px). */
  gap: Float32Array;
  /** Fibres of the interstitium: streaks in two directions, blended over the WSI, times `grain`. */
  fibre: Float32Array;
  /** Extra half-width of the interstitium, px: 0 over most of the WSI, wide in fibrotic patches. */
  fibrosis: Float32Array;
  /** Displacement of the tubule mosaic, px (irregular outlines instead of ellipses). */
  warpX: Float32Array;
  warpY: Float32Array;
}

/** Largest displacement of the tubule mosaic, px. */
const WARP = 7;

function scaled(field: Float32Array, k: number): Float32Array {
  for (let p = 0; p < field.length; p++) field[p]! *= k;
  return field;
}

function tileFields(world: WsiWorld, appearance: AppearanceConfig, x0: number, y0: number): Fields {
  const f = (k: number) => fieldSeed(world.seed, world.wsi, k);
  const angle = (f(30) >>> 0) / 2 ** 32 * Math.PI;
  const a = orientedNoiseField(f(31), x0, y0, 11, 2.5, angle);
  const b = orientedNoiseField(f(32), x0, y0, 11, 2.5, angle + Math.PI / 2);
  const blend = valueNoiseField(f(33), x0, y0, 220);
  const fibre = new Float32Array(S * S);
  for (let p = 0; p < fibre.length; p++) { const w = 0.5 + 0.5 * blend[p]!; fibre[p] = a[p]! * w + b[p]! * (1 - w); }
  // The grain's contrast drifts over the WSI (0.55x-1.45x), as the real tiles' texture does.
  const drift = valueNoiseField(f(19), x0, y0, 900);
  const fine = valueNoiseField(f(12), x0, y0, 3);
  for (let p = 0; p < fine.length; p++) {
    const grain = appearance.grain * (1 + 0.45 * drift[p]!);
    fine[p]! *= grain;
    fibre[p]! *= grain;
  }
  // Fibrosis: patches of the WSI where the interstitium widens (up to 11 px each side).
  const fibrosis = valueNoiseField(f(20), x0, y0, 700);
  for (let p = 0; p < fibrosis.length; p++) fibrosis[p] = Math.max(0, fibrosis[p]! - 0.3) * 16;
  return {
    fine,
    texture: valueNoiseField(f(13), x0, y0, 4),
    medium: valueNoiseField(f(14), x0, y0, 7),
    gap: valueNoiseField(f(15), x0, y0, 40),
    fibre,
    fibrosis,
    warpX: scaled(valueNoiseField(f(17), x0, y0, 26), WARP),
    warpY: scaled(valueNoiseField(f(18), x0, y0, 26), WARP),
  };
}

/**
 * A round disc of `colour` (with a `rim` colour beyond 0.65 r), its outer `edge` of the radius
 * fading out; painted only where `allowed(p)`.
 */
function disc(canvas: Canvas, cx: number, cy: number, r: number, colour: Rgb, opts: { rim?: Rgb; edge?: number; allowed?: (p: number) => boolean } = {}): void {
  const { rim, edge = 0.2, allowed } = opts;
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(S - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(S - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const p = y * S + x;
      const d = Math.hypot(x - cx, y - cy) / r;
      if (d > 1 || (allowed && !allowed(p))) continue;
      const c = rim && d > 0.65 ? rim : colour;
      canvas.set(p, c, d > 1 - edge ? (1 - d) / edge : 1);
    }
  }
}

/** How a nucleus is drawn: solid, with speckled chromatin (most nuclei), or vesicular. */
type NucleusStyle = 'solid' | 'vesicular' | 'dark';

/**
 * An elliptical nucleus, painted only where `allowed(p)` (its own cell's cytoplasm, or
 * stroma): solid (dark chromatin speckled by the grain), vesicular (a dark rim around pale
 * chromatin with a nucleolus), or dark (uniform: lymphocytes, flat endothelial nuclei).
 */
function nucleus(canvas: Canvas, n: CellNucleus, x0: number, y0: number, pal: Palette, fine: Float32Array, allowed: (p: number) => boolean, style: NucleusStyle = 'dark'): void {
  const cx = n.x - x0, cy = n.y - y0, r = Math.max(n.len, n.wid);
  const cos = Math.cos(n.angle), sin = Math.sin(n.angle);
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(S - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(S - 1, Math.ceil(cx + r)); x++) {
      const p = y * S + x;
      if (!allowed(p)) continue;
      const u = ((x - cx) * cos + (y - cy) * sin) / n.len;
      const v = (-(x - cx) * sin + (y - cy) * cos) / n.wid;
      const d = u * u + v * v;
      if (d <= 1) nucleusPixel(canvas, p, d, style, pal, fine);
    }
  }
}

/** One pixel of a nucleus at squared normalised distance d (<= 1) from its centre. */
function nucleusPixel(canvas: Canvas, p: number, d: number, style: NucleusStyle, pal: Palette, fine: Float32Array): void {
  if (style === 'dark') canvas.set(p, pal.nucleusDark, d > 0.75 ? (1 - d) * 4 : 1);
  else if (style === 'solid' && d > 0.8) canvas.set(p, pal.nucleusDark, (1 - d) * 4);
  else if (style === 'solid') canvas.setMix(p, pal.nucleusDark, pal.nucleus, clamp(0.15 + 0.4 * fine[p]!, 0, 1));
  else if (d > 0.7) canvas.set(p, mix(pal.nucleusDark, pal.nucleus, 0.2), d > 0.88 ? (1 - d) * 8 : 1);
  else if (d < 0.06) canvas.set(p, pal.nucleusDark); // nucleolus
  else canvas.setMix(p, pal.nucleus, pal.cytoplasmLight, clamp(0.1 + 0.3 * fine[p]!, 0, 0.45));
}

/** The deepest a ring nucleus reaches from the interstitium, px: 2 + lift (at most 9) + twice its radial half-width (at most 6.3). */
const RING_DEPTH = 24;

/**
 * Epithelial nuclei in one ring along a tubule's basement membrane, as the real tubules show
 * them: the tubule's angle around its centre is cut into `sectors` (a nucleus every 13-19 px of
 * the ring), most holding one nucleus just inside the membrane and a few one lifted towards the
 * lumen. Painted per pixel from its distance to the interstitium `m` (px), so the ring follows
 * the outline the mosaic gives the tubule, the same in every tile it crosses. Returns the
 * pixel's squared normalised distance from its sector's nucleus (over 1: none there).
 */
export function ringNucleus(seed: number, sectors: number, dx: number, dy: number, m: number): number {
  const f = (Math.atan2(dy, dx) / (2 * Math.PI) + 0.5) * sectors; // 0..sectors
  const j = Math.floor(f) % sectors;
  if (lattice(seed, j, 0) < -0.8) return Infinity; // one sector in ten is empty
  const arc = (f - Math.floor(f) - 0.5 - 0.15 * lattice(seed, j, 1)) * (2 * Math.PI / sectors) * Math.hypot(dx, dy);
  const len = 4.8 + 0.5 * lattice(seed, j, 2), wid = 5.6 + 0.7 * lattice(seed, j, 3); // round, a little taller than wide along the ring
  const lift = lattice(seed, j, 4) > 0.8 ? 9 : 1.5 + 1.2 * lattice(seed, j, 5);
  const u = arc / len, v = (m - 2 - wid - lift) / wid;
  return u * u + v * v;
}

/** Whether the direction (ax, ay) lies within about 40 degrees of (bx, by). */
function facing(ax: number, ay: number, bx: number, by: number): boolean {
  const dot = ax * bx + ay * by;
  return dot > 0 && dot * dot > 0.58 * (ax * ax + ay * ay) * (bx * bx + by * by);
}

/** Pixels of the tile: who owns them. */
const STROMA = -1;

/**
 * Lookup buckets of the tubule mosaic: each pixel looks at the 3x3 buckets around its own, so
 * it sees every tubule centre within a bucket's size. A tubule reaches EDGE_REACH a plus 1.5 px
 * of ragged edge (a up to TUBULE_MAX_A times the scanner's stretch), from a pixel displaced by
 * up to WARP px.
 */
const EDGE_REACH = 1.32;
const bucketSize = (stretch: number) => Math.ceil(EDGE_REACH * TUBULE_MAX_A * stretch + 1.5 + WARP);

/**
 * Tubules fill the tissue like a packed mosaic: each pixel belongs to the tubule whose centre
 * is nearest relative to its size (a weighted Voronoi cell, looked up from a displaced pixel so
 * that outlines are irregular). Between two tubules runs a strip of interstitium of varying
 * width, often none (the two basement membranes meet), each tubule lined by its PAS-positive
 * basement membrane; inside, granular cytoplasm (darker at the base, a pale brush border at
 * the lumen), a ring of nuclei along the membrane (`ringNucleus`), and an irregular lumen, white
 * or holding pale debris. Pixels in `keepOut` (around vessels and glomeruli) stay interstitium;
 * a tubule cut by one is lined by its membrane along the cut (`hug`: the distance to it, px).
 */
function paintTubules(canvas: Canvas, tubules: readonly Tubule[], x0: number, y0: number, stretch: number, pal: Palette, fl: Fields, keepOut: Uint8Array, hug: Float32Array, owner: Int32Array, lumens: LocalMask[]): void {
  const B = bucketSize(stretch);
  const near = tubules.filter((t) => t.cx > x0 - B && t.cx < x0 + S + B && t.cy > y0 - B && t.cy < y0 + S + B);
  const nb = Math.ceil((S + 2 * B) / B) + 1;
  const bucketOf = (v: number) => clamp(Math.floor((v + B) / B), 0, nb - 1);
  // Tubules by bucket, flat: bucket b's are members[starts[b]] .. members[starts[b + 1] - 1], in tubule order.
  const home = Int32Array.from(near, (t) => bucketOf(t.cy - y0) * nb + bucketOf(t.cx - x0));
  const starts = new Int32Array(nb * nb + 1);
  for (const b of home) starts[b + 1]!++;
  for (let b = 0; b < nb * nb; b++) starts[b + 1]! += starts[b]!;
  const members = new Int32Array(near.length), filled = starts.slice(0, nb * nb);
  home.forEach((b, k) => { members[filled[b]!++] = k; });
  const lumenCount = new Int32Array(near.length);
  const { fine, texture, medium, gap, fibrosis, warpX, warpY } = fl;
  // Per tubule, once: its centre in tile coordinates, rotation, axis ratio and 1 / a.
  const tcx = Float64Array.from(near, (t) => t.cx - x0), tcy = Float64Array.from(near, (t) => t.cy - y0);
  const tcos = Float64Array.from(near, (t) => Math.cos(t.angle)), tsin = Float64Array.from(near, (t) => Math.sin(t.angle));
  const tratio = Float64Array.from(near, (t) => t.a / t.b), tinv = Float64Array.from(near, (t) => 1 / t.a);
  // Nuclei in the basal ring: its radius about 0.8 of the room the mosaic leaves a tubule.
  const sectors = Int32Array.from(near, (t) => Math.max(8, Math.round((2 * Math.PI * 0.8 * Math.min(t.b, HALF_SPACING)) / (16 + 3 * lattice(t.seed, -1, 0)))));
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const p = y * S + x;
      if (keepOut[p]) continue;
      const wx = x + warpX[p]!, wy = y + warpY[p]!;
      const bx = bucketOf(wx), by = bucketOf(wy);
      let k1 = -1, k2 = -1, d1 = Infinity, d2 = Infinity;
      for (let yy = Math.max(0, by - 1); yy <= Math.min(nb - 1, by + 1); yy++) {
        for (let xx = Math.max(0, bx - 1); xx <= Math.min(nb - 1, bx + 1); xx++) {
          for (let m = starts[yy * nb + xx]!, end = starts[yy * nb + xx + 1]!; m < end; m++) {
            const k = members[m]!;
            const dx = tcx[k]! - wx, dy = tcy[k]! - wy;
            const c = tcos[k]!, s = tsin[k]!;
            const u = dx * c + dy * s, v = (-dx * s + dy * c) * tratio[k]!;
            const d = Math.sqrt(u * u + v * v) * tinv[k]!;
            if (d < d1) { d2 = d1; k2 = k1; d1 = d; k1 = k; } else if (d < d2) { d2 = d; k2 = k; }
          }
        }
      }
      if (k1 < 0) continue;
      const t = near[k1]!;
      // Distance in px to the interstitium: to the strip shared with the next tubule, or to
      // the outer edge where no tubule is next.
      const halfGap = Math.max(0, 3 * gap[p]! - 0.3) + fibrosis[p]!;
      const toBorder = ((d2 - d1) * t.a) / 2 - halfGap;
      const toEdge = (EDGE_REACH - d1) * t.a + 1.5 * texture[p]!;
      const mosaic = Math.min(toBorder, toEdge), cut = hug[p]! - 1 + texture[p]!;
      const m = Math.min(mosaic, cut);
      if (m < 0) continue; // interstitium
      owner[p] = k1;
      const membrane = 1.9 + 0.7 * texture[p]!;
      if (m < membrane) { canvas.setMix(p, pal.membrane, pal.stroma, 0.1 + 0.2 * fine[p]!); continue; }
      const rho = Math.max(d1 / ((d1 + d2) / 2), d1);
      const lumen = t.lumen * (1 + 0.45 * medium[p]!);
      if (rho < lumen) {
        // Debris: pale flocculent wisps (broad bands of a noise field), more in some tubules.
        const wisp = clamp((0.7 * medium[p]! + 0.6 * gap[p]! + 0.3 * texture[p]! + t.debris - 0.55) * 1.6, 0, 1) * clamp(0.55 + 0.8 * fine[p]!, 0, 1);
        canvas.setMix(p, pal.glass, pal.cytoplasmLight, 0.7 * wisp);
        owner[p] = -2 - k1;
        lumenCount[k1]!++;
        continue;
      }
      const basal = Math.max(0, 1 - (m - membrane) / 6);
      const brush = rho < lumen + 0.07 ? 0.35 : 0;
      canvas.setMix(p, pal.cytoplasm, pal.cytoplasmLight, clamp(0.45 + 0.25 * t.tone + 0.3 * fine[p]! + 0.2 * medium[p]! - 0.3 * basal + brush, -0.3, 1.2));
      // The ring follows the mosaic's outline only where it runs across the tubule's radius: along
      // a vessel's cut, or an outline shared with a neighbour that lies off to the side (where
      // three tubules meet), the sectors would draw nuclei as streaks along the radius.
      // Deeper than RING_DEPTH no nucleus reaches: the angle and the facing test are skipped there.
      const ring = m <= RING_DEPTH && mosaic <= cut && (toEdge <= toBorder || facing(wx - tcx[k1]!, wy - tcy[k1]!, tcx[k2]! - tcx[k1]!, tcy[k2]! - tcy[k1]!));
      const d = ring ? ringNucleus(t.seed, sectors[k1]!, wx - tcx[k1]!, wy - tcy[k1]!, m) : Infinity;
      if (d <= 1) nucleusPixel(canvas, p, d, t.vesicular ? 'vesicular' : 'solid', pal, fine);
    }
  }
  near.forEach((t, k) => {
    const rng = new Rng(t.seed);
    const cos = Math.cos(t.angle), sin = Math.sin(t.angle);
    const own = (p: number) => owner[p] === k;
    // Vacuolated cytoplasm: round white vacuoles of 2.5-7 px between lumen and base.
    for (let j = t.vacuoles; j > 0; j--) {
      const phi = rng.uniform(0, 2 * Math.PI);
      const rr = t.lumen + (0.9 - t.lumen) * rng.uniform(0.1, 1);
      const u = t.a * rr * Math.cos(phi), v = t.b * rr * Math.sin(phi);
      disc(canvas, t.cx + u * cos - v * sin - x0, t.cy + u * sin + v * cos - y0, rng.uniform(2.5, 7), pal.glass, { edge: 0.3, allowed: own });
    }
    if (lumenCount[k]! > 60) {
      const reach = t.a + WARP; // the lumen lies within a of the centre before displacement
      const bx0 = Math.max(0, Math.floor(t.cx - x0 - reach)), bx1 = Math.min(S - 1, Math.ceil(t.cx - x0 + reach));
      const by0 = Math.max(0, Math.floor(t.cy - y0 - reach)), by1 = Math.min(S - 1, Math.ceil(t.cy - y0 + reach));
      const mask: LocalMask = { x0: bx0, y0: by0, w: bx1 - bx0 + 1, h: by1 - by0 + 1, data: new Uint8Array((bx1 - bx0 + 1) * (by1 - by0 + 1)) };
      for (let y = by0; y <= by1; y++) for (let x = bx0; x <= bx1; x++) if (owner[y * S + x] === -2 - k) mask.data[(y - by0) * mask.w + (x - bx0)] = 1;
      lumens.push(mask);
    }
  });
}

/**
 * A glomerulus: Bowman's capsule (a PAS-positive line) around a lobulated capillary tuft, the
 * pale Bowman's space between them a crescent (wide on one side, closed on the other), the tuft
 * crowded with nuclei, its capillary loops' walls and lumens (some with red cells) from the
 * tile's fields. The capsule's outline wobbles (three harmonics) inside the glomerulus's radius,
 * which the world's placement rules keep clear; its true mask is the capsule and what it holds.
 */
function paintGlomerulus(canvas: Canvas, g: Glomerulus, x0: number, y0: number, pal: Palette, fl: Fields, protect: Uint8Array, truth: TruthInstance[]): void {
  const cx = g.cx - x0, cy = g.cy - y0, R = g.radius, tall = g.tall ?? 1;
  const bx0 = Math.max(0, Math.floor(cx - R)), bx1 = Math.min(S - 1, Math.ceil(cx + R));
  const by0 = Math.max(0, Math.floor(cy - R * tall)), by1 = Math.min(S - 1, Math.ceil(cy + R * tall));
  if (bx0 > bx1 || by0 > by1) return;
  const rng = new Rng(g.seed);
  const wobble = [2, 3, 5].map((k) => ({ k, amp: rng.uniform(0, 0.033), phase: rng.uniform(0, 2 * Math.PI) }));
  const capsuleAt = (t: number) => R * (0.9 + wobble.reduce((sum, w) => sum + w.amp * Math.cos(w.k * t + w.phase), 0));
  const widest = rng.uniform(4, 14), open = rng.uniform(0, 2 * Math.PI);
  const spaceAt = (t: number) => 1.5 + (widest - 1.5) * (0.5 + 0.5 * Math.cos(t - open)) ** 2;
  const lobes = rng.int(4, 7), lobePhase = rng.uniform(0, 2 * Math.PI);
  const tuftAt = (t: number) => (capsuleAt(t) - 2.5 - spaceAt(t)) * (1 - 0.13 * (0.5 + 0.5 * Math.cos(lobes * t + lobePhase)) ** 3);
  const mask: LocalMask = { x0: bx0, y0: by0, w: bx1 - bx0 + 1, h: by1 - by0 + 1, data: new Uint8Array((bx1 - bx0 + 1) * (by1 - by0 + 1)) };
  const tuft = mix(pal.cytoplasmLight, pal.stroma, 0.5);
  const { medium, texture, fine } = fl;
  for (let y = by0; y <= by1; y++) {
    for (let x = bx0; x <= bx1; x++) {
      const d = Math.hypot(x - cx, (y - cy) / tall), t = Math.atan2((y - cy) / tall, x - cx);
      const capsule = capsuleAt(t);
      if (d > capsule) continue;
      const p = y * S + x;
      mask.data[(y - by0) * mask.w + (x - bx0)] = 1;
      protect[p] = 1;
      if (d > capsule - 2.5) canvas.set(p, pal.membrane);
      else if (d > tuftAt(t)) canvas.setMix(p, pal.lumen, pal.cytoplasmLight, 0.2 + 0.2 * fine[p]!);
      else if (Math.abs(medium[p]!) < 0.07) canvas.setMix(p, pal.membrane, pal.stroma, 0.3); // capillary loop walls
      else if (texture[p]! > 0.3) canvas.setMix(p, pal.lumen, pal.blood, 0.4); // loop lumens
      else canvas.setMix(p, tuft, pal.cytoplasmLight, 0.3 * fine[p]!);
    }
  }
  truth.push({ type: 'glomerulus', mask, key: `g${g.cx},${g.cy}` });
  // Nuclei crowd the tuft (tried once per 40 px^2 of the capsule's disc, kept inside the tuft), never in Bowman's space.
  const inner = R * 0.9;
  for (let k = Math.floor((Math.PI * inner * inner) / 40); k > 0; k--) {
    const a = rng.uniform(0, 2 * Math.PI), rr = inner * Math.sqrt(rng.uniform());
    const r = rng.uniform(2.4, 3.8), shape = rng.uniform(0.7, 1), angle = rng.uniform(0, Math.PI), dark = rng.chance(0.5);
    if (rr > tuftAt(a) - 2) continue;
    // Placed in the round glomerulus and stretched with it (`tall`) about the centre.
    const n = stretchNucleus({ x: g.cx + rr * Math.cos(a), y: rr * Math.sin(a), len: r, wid: r * shape, angle }, tall);
    nucleus(canvas, { ...n, y: g.cy + n.y }, x0, y0, pal, fine, () => true, dark ? 'dark' : 'solid');
  }
}

/** 8-neighbour dilation of a local mask, `times` times. */
function dilate(m: Uint8Array, w: number, h: number, times: number): Uint8Array {
  let cur = m;
  for (let t = 0; t < times; t++) {
    const next = new Uint8Array(cur.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (cur[y * w + x]) { next[y * w + x] = 1; continue; }
        let hit = 0;
        for (let dy = -1; dy <= 1 && !hit; dy++) for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < w && yy < h && cur[yy * w + xx]) { hit = 1; break; }
        }
        next[y * w + x] = hit;
      }
    }
    cur = next;
  }
  return cur;
}

/** Distance (in 4-neighbour erosion steps, capped) of each mask pixel to the outside. */
function depthInside(m: Uint8Array, w: number, h: number, cap: number): Uint8Array {
  const depth = new Uint8Array(m.length);
  for (let p = 0; p < m.length; p++) depth[p] = m[p] ? cap : 0;
  for (let t = 1; t < cap; t++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = y * w + x;
        if (depth[p]! < cap) continue;
        // A neighbour outside the box or of depth < t puts this pixel at depth t.
        if (x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
          depth[p - 1]! < t || depth[p + 1]! < t || depth[p - w]! < t || depth[p + w]! < t) depth[p] = t;
      }
    }
  }
  return depth;
}

/** What fills a vessel's lumen. */
type Content = 'blood' | 'plasma' | 'empty';

/**
 * A vessel, labelled by its polygon. Capillaries (most of them): a thin PAS-positive wall with
 * flat endothelial nuclei, the lumen packed with red cells, or pale plasma, or empty and white.
 * Larger vessels: a wall of smooth muscle (pink, nuclei along the circumference) inside the
 * polygon. Ambiguous (collapsed) vessels are faint. The polygon and a rim around it are kept
 * clear of glass.
 */
/** A vessel's polygon rasterised in a box around it (tile coordinates of its corner), with the rim around it. */
interface VesselShape {
  lx0: number;
  ly0: number;
  w: number;
  h: number;
  local: Uint8Array;
  /** The polygon dilated by 2 px: the rim drawn around it. */
  halo: Uint8Array;
}

/** A vessel's polygon rasterised in its bounding box grown by `margin` px, the box's corner in tile coordinates; null when the box misses the tile. */
function vesselBox(v: Vessel, x0: number, y0: number, margin: number): { lx0: number; ly0: number; w: number; h: number; local: Uint8Array } | null {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [x, y] of v.ring) { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
  const lx0 = minX - x0 - margin, ly0 = minY - y0 - margin;
  const w = maxX - minX + 1 + 2 * margin, h = maxY - minY + 1 + 2 * margin;
  if (lx0 + w <= 0 || ly0 + h <= 0 || lx0 >= S || ly0 >= S) return null;
  const local = new Uint8Array(w * h);
  fillPolygon(local, w, h, [v.ring.map(([x, y]): Point => [x - x0 - lx0, y - y0 - ly0])], 1);
  return { lx0, ly0, w, h, local };
}

function vesselShape(v: Vessel, x0: number, y0: number): VesselShape | null {
  const box = vesselBox(v, x0, y0, 5);
  return box && { ...box, halo: dilate(box.local, box.w, box.h, 2) };
}

/** How far (px) from a vessel or glomerulus a tubule's outline still follows it: beyond the deepest ring nucleus. */
const HUG = 28;

/**
 * Each pixel's distance (px, chamfer 1 / 1.4) beyond the keep-out zone of the vessels and
 * glomeruli near it (Infinity from HUG on): a tubule cut by one gets its basement membrane and nuclei
 * along the cut, as real tubules wrap the capillaries squeezed between them. Each vessel's
 * distances come from its whole polygon in a box of its own, so tiles join without a seam.
 */
function keepOutDistance(vessels: readonly Vessel[], glomeruli: readonly Glomerulus[], x0: number, y0: number): Float32Array {
  const out = new Float32Array(S * S).fill(Infinity);
  for (const v of vessels) {
    const box = vesselBox(v, x0, y0, 3 + HUG + 1);
    if (!box) continue;
    const { lx0, ly0, w, h } = box;
    const dist = chamfer(box.local, w, h);
    for (let y = Math.max(0, ly0); y < Math.min(S, ly0 + h); y++) {
      for (let x = Math.max(0, lx0); x < Math.min(S, lx0 + w); x++) {
        const d = dist[(y - ly0) * w + (x - lx0)]! - 3;
        if (d < HUG && d < out[y * S + x]!) out[y * S + x] = Math.max(0, d);
      }
    }
  }
  for (const g of glomeruli) {
    const cx = g.cx - x0, cy = g.cy - y0, R = g.radius + 3 + HUG, tall = g.tall ?? 1;
    for (let y = Math.max(0, Math.floor(cy - R * tall)); y <= Math.min(S - 1, Math.ceil(cy + R * tall)); y++) {
      for (let x = Math.max(0, Math.floor(cx - R)); x <= Math.min(S - 1, Math.ceil(cx + R)); x++) {
        const d = Math.max(0, Math.hypot(x - cx, (y - cy) / tall) - g.radius - 3);
        if (d < HUG && d < out[y * S + x]!) out[y * S + x] = d;
      }
    }
  }
  return out;
}

/** Chamfer distance (1 along, 1.4 diagonally) of every pixel of a w x h box to its nearest set pixel of `mask`. */
function chamfer(mask: Uint8Array, w: number, h: number): Float32Array {
  // A plain loop: Float32Array.from with a mapping function walks the mask through the iterator
  // protocol, 25-30x slower (a 600 x 600 mask: 30-36 ms against 1.0-1.4).
  const d = new Float32Array(mask.length);
  for (let p = 0; p < mask.length; p++) d[p] = mask[p] ? 0 : 1e9;
  const relax = (p: number, q: number, step: number) => { if (d[q]! + step < d[p]!) d[p] = d[q]! + step; };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (x > 0) relax(p, p - 1, 1);
      if (y > 0) { relax(p, p - w, 1); if (x > 0) relax(p, p - w - 1, 1.4); if (x < w - 1) relax(p, p - w + 1, 1.4); }
    }
  }
  for (let y = h - 1; y >= 0; y--) {
    for (let x = w - 1; x >= 0; x--) {
      const p = y * w + x;
      if (x < w - 1) relax(p, p + 1, 1);
      if (y < h - 1) { relax(p, p + w, 1); if (x < w - 1) relax(p, p + w + 1, 1.4); if (x > 0) relax(p, p + w - 1, 1.4); }
    }
  }
  return d;
}

/**
 * Where tubules may not go: each vessel's polygon and 3 px around it (its rim and a pixel of
 * interstitium), each glomerulus and 3 px around it.
 */
function keepOutMask(shapes: readonly VesselShape[], glomeruli: readonly Glomerulus[], x0: number, y0: number): Uint8Array {
  const out = new Uint8Array(S * S);
  for (const { lx0, ly0, w, h, halo } of shapes) {
    const wide = dilate(halo, w, h, 1);
    for (let y = Math.max(0, ly0); y < Math.min(S, ly0 + h); y++) {
      for (let x = Math.max(0, lx0); x < Math.min(S, lx0 + w); x++) if (wide[(y - ly0) * w + (x - lx0)]) out[y * S + x] = 1;
    }
  }
  for (const g of glomeruli) {
    const cx = g.cx - x0, cy = g.cy - y0, R = g.radius + 3, tall = g.tall ?? 1;
    for (let y = Math.max(0, Math.floor(cy - R * tall)); y <= Math.min(S - 1, Math.ceil(cy + R * tall)); y++) {
      for (let x = Math.max(0, Math.floor(cx - R)); x <= Math.min(S - 1, Math.ceil(cx + R)); x++) if (Math.hypot(x - cx, (y - cy) / tall) <= R) out[y * S + x] = 1;
    }
  }
  return out;
}

function paintVessel(canvas: Canvas, v: Vessel, shape: VesselShape, x0: number, y0: number, pal: Palette, fl: Fields, protect: Uint8Array, truth: TruthInstance[]): void {
  const { lx0, ly0, w, h, local, halo } = shape;
  let area = 0;
  for (let q = 0; q < local.length; q++) area += local[q]!;
  const rng = new Rng(v.seed);
  const radius = Math.sqrt(area / Math.PI);
  const capillary = radius < 13;
  const wall = v.ambiguous || capillary ? 1.5 : clamp(0.2 * radius, 2.5, 9);
  const u = rng.uniform();
  const content: Content = capillary ? (u < 0.45 ? 'blood' : u < 0.75 ? 'plasma' : 'empty') : (u < 0.3 ? 'blood' : u < 0.6 ? 'plasma' : 'empty');
  const depth = depthInside(local, w, h, Math.ceil(wall) + 3);
  const lumenColour = v.ambiguous ? mix(pal.stroma, pal.lumen, 0.35) : content === 'plasma' ? mix(pal.lumen, pal.cytoplasmLight, 0.45) : mix(pal.lumen, pal.glass, 0.4);
  const wallColour = v.ambiguous ? mix(pal.membrane, pal.stroma, 0.6) : capillary ? mix(pal.membrane, pal.stroma, 0.3) : pal.stromaLight;
  const { fine } = fl;
  // The label: the vessel's pixels inside the tile.
  const cx0 = Math.max(0, lx0), cy0 = Math.max(0, ly0), cx1 = Math.min(S, lx0 + w), cy1 = Math.min(S, ly0 + h);
  const clip: LocalMask = { x0: cx0, y0: cy0, w: cx1 - cx0, h: cy1 - cy0, data: new Uint8Array((cx1 - cx0) * (cy1 - cy0)) };
  let inside = 0;
  for (let y = cy0; y < cy1; y++) {
    for (let x = cx0; x < cx1; x++) {
      const q = (y - ly0) * w + (x - lx0);
      const p = y * S + x;
      if (local[q]) {
        clip.data[(y - cy0) * clip.w + (x - cx0)] = 1;
        inside++;
        protect[p] = 1;
        if (depth[q]! <= wall) canvas.setMix(p, wallColour, pal.cytoplasm, capillary ? 0 : 0.3 + 0.3 * fine[p]!);
        else canvas.setMix(p, lumenColour, pal.cytoplasmLight, 0.08 * fine[p]!);
      } else if (halo[q]) {
        protect[p] = 1;
        canvas.setMix(p, pal.stroma, pal.membrane, 0.45);
      }
    }
  }
  if (inside > 0) truth.push({ type: v.ambiguous ? 'unsure' : 'blood_vessel', mask: clip, key: `v${v.cx},${v.cy}` });
  // Nuclei along the outline: flat endothelial ones on the lining, smooth-muscle ones in a thick wall.
  const n = v.ring.length;
  const gcx = v.ring.reduce((s, p) => s + p[0], 0) / n, gcy = v.ring.reduce((s, p) => s + p[1], 0) / n;
  let run = rng.uniform(0, 16);
  for (let k = 0; k < n; k++) {
    if (++run < (capillary ? 16 : 11)) continue;
    run = 0;
    const [ax, ay] = v.ring[k]!;
    const [bx, by] = v.ring[(k + 3) % n]!;
    const angle = Math.atan2(by - ay, bx - ax);
    const toC = Math.hypot(gcx - ax, gcy - ay) || 1;
    const inward = capillary || v.ambiguous ? 1.2 : wall * rng.uniform(0.3, 0.8);
    const nx = ax + ((gcx - ax) / toC) * inward, ny = ay + ((gcy - ay) / toC) * inward;
    nucleus(canvas, { x: nx, y: ny, len: capillary ? 4.5 : 5.5, wid: 1.6, angle }, x0, y0, pal, fine, () => true);
  }
  if (v.ambiguous) return;
  // Red cells: packed in a blood-filled lumen, a few in the others.
  const lumenArea = [...depth].filter((d) => d > wall + 1).length;
  const cells = content === 'blood' ? Math.round((rng.uniform(0.4, 0.9) * lumenArea) / 28) : rng.int(0, Math.min(3, Math.floor(lumenArea / 60)));
  const rim = mix(pal.blood, pal.stroma, 0.35);
  for (let k = 0; k < cells; k++) {
    for (let tries = 0; tries < 20; tries++) {
      const qx = rng.int(0, w - 1), qy = rng.int(0, h - 1);
      if (depth[qy * w + qx]! <= wall + 1) continue;
      disc(canvas, qx + lx0, qy + ly0, rng.uniform(2.8, 3.6), pal.blood, { rim });
      break;
    }
  }
}

const NOISE_TABLE = 1 << 16;
let gaussians: Float32Array | null = null;
function gaussianTable(): Float32Array {
  if (!gaussians) {
    const rng = new Rng(0x6a055);
    gaussians = new Float32Array(NOISE_TABLE).map(() => rng.normal());
  }
  return gaussians;
}

/** How far loose stroma goes towards the lumens' pale colour between its fibres. */
const LOOSE = 0.6;

/**
 * A tile's canvas in palette colours (float RGB) with its true objects and tubule lumens, before
 * the colour map, and how much of each pixel is bare glass (0..1: blurred with the tissue, so
 * `finishTile` can give glass the real glass's colour, which the colour map cannot: it maps by
 * rank, and glass, the brightest thing painted, would take the real tiles' brightest lumens').
 */
interface PaintedTile { px: Float32Array; truth: TruthInstance[]; lumens: LocalMask[]; glass: Float32Array }

/**
 * Paint the 512 x 512 WSI pixels whose upper-left corner is (x0, y0), in palette colours: glass,
 * interstitium, tubules, interstitial nuclei, glomeruli, vessels (`scanTile` turns them into a tile).
 */
function paintTile(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig, x0: number, y0: number): PaintedTile {
  const pal = stain.palette;
  const canvas = new Canvas();
  const fl = tileFields(world, appearance, x0, y0);
  const glass = world.tissue.glass(x0, y0, fl.medium, S, appearance.stretch);
  for (let p = 0; p < S * S; p++) canvas.setMix(p, pal.stromaLight, pal.cytoplasmLight, clamp(0.35 + 0.45 * fl.fibre[p]! + 0.2 * fl.fine[p]!, -0.6, 1));
  // Loose stroma where the zones thin the tubules out: paler between its fibres.
  const zones = world.stromaZones(x0, y0);
  for (let p = 0; p < S * S; p++) if (zones[p]! > 0) canvas.set(p, pal.lumen, zones[p]! * LOOSE * clamp(0.6 - 0.8 * fl.fibre[p]!, 0, 1));
  const objects = world.tileObjects(x0, y0);
  const truth: TruthInstance[] = [];
  const lumens: LocalMask[] = [];
  const owner = new Int32Array(S * S).fill(STROMA);
  const protect = new Uint8Array(S * S);
  const vessels = objects.vessels.flatMap((v) => { const shape = vesselShape(v, x0, y0); return shape ? [{ v, shape }] : []; });
  const keepOut = keepOutMask(vessels.map((o) => o.shape), objects.glomeruli, x0, y0);
  const hug = keepOutDistance(objects.vessels, objects.glomeruli, x0, y0);
  paintTubules(canvas, objects.tubules, x0, y0, appearance.stretch, pal, fl, keepOut, hug, owner, lumens);
  // Bare glass: the glass field's interstitium. A tubule by the edge stays whole (the section
  // tore along the interstitium around it); vessels and glomeruli are never placed near glass.
  const bare = new Float32Array(S * S);
  for (let p = 0; p < S * S; p++) if (glass[p] && owner[p] === STROMA) bare[p] = 1;
  const onStroma = (p: number) => owner[p] === STROMA && !bare[p];
  for (const n of objects.nuclei) nucleus(canvas, n, x0, y0, pal, fl.fine, onStroma);
  for (const g of objects.glomeruli) paintGlomerulus(canvas, g, x0, y0, pal, fl, protect, truth);
  for (const { v, shape } of vessels) paintVessel(canvas, v, shape, x0, y0, pal, fl, protect, truth);
  // Granules: sparse one-pixel dark specks in the tissue (real texture is skewed towards dark
  // points: chromatin, granular cytoplasm, fibre crossings), before the scanner blur spreads them.
  const speckSeed = fieldSeed(world.seed, world.wsi, 16);
  const density = 0.16, strength = 0.8; // measured against the real tiles' LBP histograms (bench:realism)
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const p = y * S + x;
      const h = 0.5 + 0.5 * lattice(speckSeed, x0 + x, y0 + y);
      if (bare[p] || owner[p]! <= -2 || h < 1 - density) continue; // not on glass or in lumens
      canvas.set(p, pal.nucleusDark, (strength * (h - 1 + density)) / density);
    }
  }
  for (let p = 0; p < S * S; p++) {
    if (!bare[p]) continue;
    if (protect[p]) bare[p] = 0;
    else canvas.setMix(p, pal.glass, pal.lumen, 0.15 + 0.02 * fl.fine[p]!);
  }
  return { px: canvas.px, truth, lumens, glass: bare };
}

/**
 * The tile whose upper-left corner is pixel (x0, y0) of its WSI as the scanner sees the painted
 * tissue: with `appearance.stretch` s its rows are s times finer than its columns, so the
 * tissue comes out s times taller than wide (the real tiles' is: about twice the power across
 * as down at periods of 4-32 px in all four real WSIs; the real vessel outlines spread 1.39x
 * more down than across). The objects are drawn stretched (`WsiWorld.tileObjects`; the WSI's
 * vessels are placed squeezed by s, since the real outlines were traced on stretched tiles,
 * and its cells hold s times as many vessels and glomeruli, so the tiles keep the real shapes
 * and counts) while the noise fields, the grain and the scanner blur stay on square pixels: no
 * painted row is resampled. Not the default (README, "Synthetic data"). Then the scanner blur.
 */
function scanTile(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig, x0: number, y0: number): PaintedTile {
  const painted = paintTile(world, stain, appearance, x0, y0);
  scannerBlur(painted.px, appearance.blur);
  scannerBlur(painted.glass, appearance.blur, 1);
  return painted;
}

/**
 * A WSI's colour map, the same for every tile of it (so slides show no seams): each channel's
 * histogram over a few painted tiles of the WSI matched to the real tiles' (the stain's colours
 * in their order of brightness), times the stain's channel gains; for a WSI without real
 * tiles, then an affine map to the real WSI's brightness and contrast.
 */
interface ColourMap {
  lut: [Float32Array, Float32Array, Float32Array];
  scale: number;
  offset: number;
  mean: number;
  /** Gain on the painted tile's detail band (`withDetail`), fitted so its fine texture has the real WSI's amplitude; 0: none. */
  detail: number;
}

const colourMaps = new Map<string, ColourMap>();
/** Lattice of the focus field, in px (half a millimetre): 2,048 px cells left a WSI's 50 tiles with too few independent focus values to average out. */
const FOCUS_CELL = 1024;
const REFERENCE_TILES: [number, number][] = [[-8192, -8192], [-8192 + 1536, -8192], [-8192, -8192 + 1536], [-8192 + 1536, -8192 + 1536]];
/** The detail fit's tiles: the colour map's four and four more where the datasets' tiles lie (four alone left the fitted amplitude 0.5 low: their own content). */
const DETAIL_TILES: [number, number][] = [...REFERENCE_TILES, [1024, 1024], [4096, 1536], [1536, 4096], [4608, 4608]];

/**
 * The painted tile with its detail turned up (gain > 0) or down (< 0): the band between one and
 * three more blur passes, added `gain` times (boosting structure, not the one-pixel speckle the
 * way an unsharp mask would). With `focus`, the gain drifts over the WSI (a smooth field, so
 * tiles join): the scanner's focus wanders, and the real tiles' sharpness varies 2-3x more from
 * tile to tile than the painted tissue alone gives.
 */
function withDetail(px: Float32Array, gain: number, focus?: { field: Float32Array; spread: number }): Float32Array {
  if (gain === 0 && !focus?.spread) return px;
  const fine = px.slice();
  scannerBlur(fine, 1);
  const coarse = fine.slice();
  scannerBlur(coarse, 2);
  const out = coarse; // each value is read just before it is replaced
  for (let p = 0; p < S * S; p++) {
    const g = focus ? Math.max(-1, gain + focus.spread * focus.field[p]!) : gain;
    for (let k = p * 3; k < p * 3 + 3; k++) out[k] = px[k]! + g * (fine[k]! - coarse[k]!);
  }
  return out;
}

/** Each channel's histogram over the painted tiles matched to the stain's real histogram, times its channel gain. */
function matchHistograms(painted: readonly Float32Array[], stain: WsiStain): ColourMap['lut'] {
  const hists = [new Float64Array(256), new Float64Array(256), new Float64Array(256)];
  for (const px of painted) for (let k = 0; k < px.length; k++) hists[k % 3]![clamp(Math.round(px[k]!), 0, 255)]!++;
  return [0, 1, 2].map((c) => {
    const hist = hists[c]!, total = hist.reduce((s, v) => s + v, 0);
    const ref = stain.reference[c]!;
    const out = new Float32Array(256);
    let cum = 0, q = 0;
    for (let v = 0; v < 256; v++) {
      cum += hist[v]! / total;
      while (q < 255 && ref[q]! < cum - (0.5 * hist[v]!) / total) q++;
      out[v] = q * stain.channelGain[c]!;
    }
    return out;
  }) as ColourMap['lut'];
}

/** The colour map of painted tiles at one detail gain; for a WSI without real tiles, then affine to its brightness and contrast. */
function mapFor(painted: readonly Float32Array[], stain: WsiStain, detail: number): ColourMap {
  const lut = matchHistograms(painted, stain);
  let sum = 0, sq = 0, n = 0;
  for (const px of painted) for (let k = 0; k < px.length; k++) { const v = lut[k % 3]![clamp(Math.round(px[k]!), 0, 255)]!; sum += v; sq += v * v; n++; }
  const mean = sum / n, std = Math.sqrt(Math.max(sq / n - mean * mean, 1e-6));
  const { intensity } = stain;
  return stain.ownReference
    ? { lut, scale: 1, offset: 0, mean, detail }
    : { lut, scale: intensity.std / std, offset: intensity.mean - (mean * intensity.std) / std, mean: intensity.mean, detail };
}

/**
 * The detail gain that gives the WSI's detail-fit tiles, rendered to the end (colour map, noise,
 * JPEG, the refiner), the real tiles' mean fine-texture amplitude: secant steps on the gain, which the
 * amplitude grows with almost linearly (at most four renderings of the eight tiles: the fit is
 * paid once per WSI in every worker that renders it). Clamped to [-0.8, 2]: a blurrier or a
 * sharper scan, not a new image.
 */
function fitDetail(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig, painted: readonly PaintedTile[]): number {
  const tiles = [...painted, ...DETAIL_TILES.slice(REFERENCE_TILES.length).map(([x, y]) => scanTile(world, stain, appearance, x, y))];
  const at = (gain: number) => {
    const detailed = tiles.map((t) => withDetail(t.px, gain));
    const map = mapFor(detailed.slice(0, painted.length), stain, gain);
    let sum = 0;
    detailed.forEach((px, t) => { sum += fineTextureSd(finalImage(world, stain, appearance, map, px, tiles[t]!.glass, ...DETAIL_TILES[t]!), S, S); });
    return sum / DETAIL_TILES.length;
  };
  // In focus (the focus field averages out over the WSI; averaging over its spread moved the
  // gains by 0.01-0.09, less than where the field happens to lie under a WSI's tiles moves the
  // amplitude), to 0.1 grey levels (the real tiles' amplitude spreads 1.6-2.0 over tiles).
  const amplitude = (gain: number) => at(gain) - stain.fineSd;
  let a = 0, fa = amplitude(a), b = 0.5, fb = amplitude(b);
  for (let step = 0; step < 2 && Math.abs(fb) > 0.1 && fb !== fa; step++) {
    const c = clamp(b - (fb * (b - a)) / (fb - fa), -0.8, 2);
    [a, fa, b, fb] = [b, fb, c, amplitude(c)];
  }
  return Math.round(b * 1000) / 1000;
}

function colourMap(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig): ColourMap {
  const key = JSON.stringify([world.seed, world.wsi, appearance, stain.channelGain, stain.ownReference]);
  const hit = colourMaps.get(key);
  if (hit) return hit;
  const painted = REFERENCE_TILES.map(([x, y]) => scanTile(world, stain, appearance, x, y));
  const detail = appearance.detail ? fitDetail(world, stain, appearance, painted) : 0;
  if (process.env.VASCSEG_VERBOSE) console.error(`synthetic WSI ${world.wsi}: detail gain ${detail} for a fine-texture amplitude of ${stain.fineSd}`);
  const map = mapFor(painted.map((t) => withDetail(t.px, detail)), stain, detail);
  colourMaps.set(key, map);
  return map;
}

/**
 * A painted tile (its detail already set) to the stored image: coloured by the WSI's colour map,
 * with brightness and contrast drifting slowly over the WSI as the real WSI's tiles do (smooth
 * fields, so neighbouring tiles join), bare glass (`glass`, 0..1 a pixel) in the real glass's
 * colour, sensor noise added, and through the scanner's JPEG compression.
 */
function finishTile(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig, map: ColourMap, px: Float32Array, glass: Float32Array, x0: number, y0: number): Uint8Array {
  const { intensity } = stain;
  const shift = valueNoiseField(fieldSeed(world.seed, world.wsi, 40), x0, y0, 1500);
  const gain = valueNoiseField(fieldSeed(world.seed, world.wsi, 41), x0, y0, 1500);
  // Sensor noise, in output grey levels: unit Gaussians from a fixed table, walked from a
  // random start with a random odd stride (cheap, and no pattern shows at this amplitude).
  // Added after the colour map, which would otherwise stretch it wherever the map is steep
  // (glass and white lumens: one colour here, a spread of greys in the real tiles).
  const rng = Rng.of(world.seed, world.wsi, x0, y0, 3);
  const at = rng.int(0, NOISE_TABLE - 1);
  const stride = 2 * rng.int(1000, 20000) + 1;
  const { lut, scale, offset: shiftBy, mean } = map;
  const [glassR, glassG, glassB] = stain.glassRgb;
  // Glass keeps its colour where the tissue's contrast drifts (real glass: 215-220 in every tile).
  const data = finishPixels({
    px, glass, shift, gain, lut, scale, shiftBy, mean,
    drift: 2 * intensity.meanSd, spread: 2 * (intensity.stdSd / intensity.std), glassRgb: [glassR, glassG, glassB],
    table: gaussianTable(), at, stride, noise: appearance.noise, grain: GLASS_GRAIN,
  });
  return appearance.jpegQuality > 0 ? jpegRoundTrip(data, S, S, appearance.jpegQuality) : data;
}

/**
 * Extra sensor noise on glass, times the tissue's: the real glass keeps a grain of 0.9-1.9 grey
 * levels between neighbouring pixels (sd of the difference, 8 of the 17 real tiles over 15% glass)
 * through the scanner's JPEG, which erases grain under about 1.6 levels on flat glass here; at
 * 5x the tissue's noise the synthetic glass's grain is 1.2 (WSI 2, scratch measurement).
 */
const GLASS_GRAIN = 4;

/** The stored image of a painted tile: finished, then through the learned refiner (which sharpens it a little: the detail fit sees its output). */
function finalImage(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig, map: ColourMap, px: Float32Array, glass: Float32Array, x0: number, y0: number): Uint8Array {
  const finished = finishTile(world, stain, appearance, map, px, glass, x0, y0);
  return appearance.refine ? refineTile(finished, S, S) : finished;
}

/** Render the tile whose upper-left corner is (x0, y0) in its WSI: painted, scanned, its detail set for the WSI and the focus there, finished and refined. */
export function renderTile(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig, x0: number, y0: number): RenderedTile {
  const { px, truth, lumens, glass } = scanTile(world, stain, appearance, x0, y0);
  const map = colourMap(world, stain, appearance);
  const focus = { field: valueNoiseField(fieldSeed(world.seed, world.wsi, 42), x0, y0, FOCUS_CELL), spread: appearance.focus };
  const image = finalImage(world, stain, appearance, map, withDetail(px, map.detail, focus), glass, x0, y0);
  return { image: { width: S, height: S, data: image }, truth, lumens };
}
