import { fillPolygon, type Point } from '../data/rasterize.ts';
import type { RgbImage } from '../data/images.ts';
import type { AppearanceConfig } from './config.ts';
import { hashSeed, Rng } from '../util/random.ts';
import type { Palette, Rgb, WsiStain } from './stain.ts';
import type { Glomerulus, Tubule, Vessel, WsiWorld } from './world.ts';

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
  setMix(p: number, a: Rgb, b: Rgb, t: number, f: number): void {
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

/** Smooth value noise in [-1, 1] on a lattice of `cell` px, in WSI coordinates (seamless across tiles). */
function valueNoiseField(seed: number, x0: number, y0: number, cell: number): Float32Array {
  const out = new Float32Array(S * S);
  const gx0 = Math.floor(x0 / cell), gy0 = Math.floor(y0 / cell);
  const n = Math.ceil(S / cell) + 2;
  const lattice = new Float32Array(n * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) lattice[j * n + i] = (hashSeed(seed, gx0 + i, gy0 + j) / 2 ** 32) * 2 - 1;
  for (let y = 0; y < S; y++) {
    const fy = (y0 + y) / cell - gy0;
    const jy = Math.floor(fy), ty = fy - jy, sy = ty * ty * (3 - 2 * ty);
    for (let x = 0; x < S; x++) {
      const fx = (x0 + x) / cell - gx0;
      const ix = Math.floor(fx), tx = fx - ix, sx = tx * tx * (3 - 2 * tx);
      const a = lattice[jy * n + ix]!, b = lattice[jy * n + ix + 1]!;
      const c = lattice[(jy + 1) * n + ix]!, d = lattice[(jy + 1) * n + ix + 1]!;
      out[y * S + x] = (a + (b - a) * sx) + ((c + (d - c) * sx) - (a + (b - a) * sx)) * sy;
    }
  }
  return out;
}

function disc(canvas: Canvas, cx: number, cy: number, r: number, colour: Rgb, centre?: Rgb): void {
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(S - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(S - 1, Math.ceil(cy + r));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const d = Math.hypot(x - cx, y - cy) / r;
      if (d > 1) continue;
      // Vesicular nuclei: a paler centre; soft rim for anti-aliasing.
      const c = centre && d < 0.45 ? centre : colour;
      canvas.set(y * S + x, c, d > 0.8 ? (1 - d) * 5 : 1);
    }
  }
}

function ellipseNucleus(canvas: Canvas, cx: number, cy: number, len: number, wid: number, angle: number, colour: Rgb): void {
  const r = Math.max(len, wid);
  const cos = Math.cos(angle), sin = Math.sin(angle);
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(S - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(S - 1, Math.ceil(cx + r)); x++) {
      const u = ((x - cx) * cos + (y - cy) * sin) / len;
      const v = (-(x - cx) * sin + (y - cy) * cos) / wid;
      const d = u * u + v * v;
      if (d <= 1) canvas.set(y * S + x, colour, d > 0.6 ? (1 - d) * 2.5 : 1);
    }
  }
}

/**
 * Tubules fill the tissue like a packed mosaic: each pixel belongs to the tubule whose centre
 * is nearest relative to its size (a weighted Voronoi cell), clipped to that size; thin dark
 * basement membranes run where two cells meet, stroma shows where none reaches.
 */
function paintTubules(canvas: Canvas, tubules: readonly Tubule[], x0: number, y0: number, pal: Palette, texture: Float32Array, rng: Rng, lumens: LocalMask[]): void {
  const reach = 80;
  const near = tubules.filter((t) => t.cx > x0 - reach && t.cx < x0 + S + reach && t.cy > y0 - reach && t.cy < y0 + S + reach);
  // Buckets of 80 px (more than the largest tubule radius): each pixel looks at 3x3 of them.
  const B = 80, nb = Math.ceil((S + 2 * reach) / B);
  const buckets: number[][] = Array.from({ length: nb * nb }, () => []);
  near.forEach((t, k) => {
    const bx = Math.floor((t.cx - x0 + reach) / B), by = Math.floor((t.cy - y0 + reach) / B);
    buckets[by * nb + bx]!.push(k);
  });
  const owner = new Int32Array(S * S).fill(-1);
  const lumenCount = new Int32Array(near.length);
  for (let y = 0; y < S; y++) {
    const by = Math.floor((y + reach) / B);
    for (let x = 0; x < S; x++) {
      const bx = Math.floor((x + reach) / B);
      let k1 = -1, d1 = Infinity, d2 = Infinity;
      for (let yy = Math.max(0, by - 1); yy <= Math.min(nb - 1, by + 1); yy++) {
        for (let xx = Math.max(0, bx - 1); xx <= Math.min(nb - 1, bx + 1); xx++) {
          for (const k of buckets[yy * nb + xx]!) {
            const t = near[k]!;
            const ex = t.cx - x0 - x, ey = (t.cy - y0 - y) * (t.a / t.b);
            const d = Math.sqrt(ex * ex + ey * ey) / t.a;
            if (d < d1) { d2 = d1; d1 = d; k1 = k; } else if (d < d2) d2 = d;
          }
        }
      }
      const p = y * S + x;
      if (k1 < 0 || d1 > 1 + 0.06 * texture[p]!) continue; // stroma
      const t = near[k1]!;
      const grain = 1 + 0.12 * texture[p]!;
      const toBorder = ((d2 - d1) * t.a) / 2; // px to the membrane shared with the next tubule
      const rho = Math.max(d1 / ((d1 + d2) / 2), d1);
      owner[p] = k1;
      if (toBorder < 1.3 || d1 > 0.97) canvas.set(p, pal.membrane);
      else if (rho < t.lumen + 0.1 * texture[p]!) {
        canvas.setMix(p, pal.lumen, pal.cytoplasmLight, 0.3 + 0.25 * texture[p]!, grain);
        owner[p] = -2 - k1; // lumen of k1
        lumenCount[k1]!++;
      } else canvas.setMix(p, pal.stroma, pal.cytoplasm, 0.35 + Math.max(0, 0.9 - rho) * 0.8 + 0.3 * texture[p]!, grain);
    }
  }
  near.forEach((t, k) => {
    // Epithelial nuclei around the lumen, drawn only on this tubule's cytoplasm.
    const cos = Math.cos(t.angle), sin = Math.sin(t.angle);
    const ringR = (t.lumen + 1) / 2 * 0.85;
    const n = Math.max(5, Math.floor((Math.PI * (t.a + t.b) * ringR) / 12));
    for (let j = 0; j < n; j++) {
      if (rng.chance(0.2)) continue;
      const phi = t.nucleusPhase + (2 * Math.PI * j) / n + rng.normal(0, 0.08);
      const rr = ringR * rng.uniform(0.9, 1.12);
      const u = t.a * rr * Math.cos(phi), v = t.b * rr * Math.sin(phi);
      const nx = t.cx - x0 + u * cos - v * sin, ny = t.cy - y0 + u * sin + v * cos;
      nucleus(canvas, owner, k, nx, ny, rng.uniform(3.8, 5.2), pal);
    }
    if (lumenCount[k]! > 60) {
      const bx0 = Math.max(0, Math.floor(t.cx - x0 - t.a)), bx1 = Math.min(S - 1, Math.ceil(t.cx - x0 + t.a));
      const by0 = Math.max(0, Math.floor(t.cy - y0 - t.a)), by1 = Math.min(S - 1, Math.ceil(t.cy - y0 + t.a));
      const mask: LocalMask = { x0: bx0, y0: by0, w: bx1 - bx0 + 1, h: by1 - by0 + 1, data: new Uint8Array((bx1 - bx0 + 1) * (by1 - by0 + 1)) };
      for (let y = by0; y <= by1; y++) for (let x = bx0; x <= bx1; x++) if (owner[y * S + x] === -2 - k) mask.data[(y - by0) * mask.w + (x - bx0)] = 1;
      lumens.push(mask);
    }
  });
}

/** A vesicular nucleus (dark rim, paler centre) painted only where tubule `k` owns the cytoplasm. */
function nucleus(canvas: Canvas, owner: Int32Array, k: number, cx: number, cy: number, r: number, pal: Palette): void {
  const centre = mix(pal.nucleus, pal.cytoplasm, 0.4);
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(S - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(S - 1, Math.ceil(cx + r)); x++) {
      const p = y * S + x;
      if (owner[p] !== k) continue;
      const d = Math.hypot(x - cx, y - cy) / r;
      if (d <= 1) canvas.set(p, d < 0.5 ? centre : pal.nucleus, d > 0.8 ? (1 - d) * 5 : 1);
    }
  }
}

function paintGlomerulus(canvas: Canvas, g: Glomerulus, x0: number, y0: number, pal: Palette, texture: Float32Array, truth: TruthInstance[]): void {
  const cx = g.cx - x0, cy = g.cy - y0, R = g.radius;
  const bx0 = Math.max(0, Math.floor(cx - R)), bx1 = Math.min(S - 1, Math.ceil(cx + R));
  const by0 = Math.max(0, Math.floor(cy - R)), by1 = Math.min(S - 1, Math.ceil(cy + R));
  if (bx0 > bx1 || by0 > by1) return;
  const rng = new Rng(g.seed);
  const space = rng.uniform(4, 9);
  const mask: LocalMask = { x0: bx0, y0: by0, w: bx1 - bx0 + 1, h: by1 - by0 + 1, data: new Uint8Array((bx1 - bx0 + 1) * (by1 - by0 + 1)) };
  const tuft = mix(pal.cytoplasm, pal.stroma, 0.4);
  for (let y = by0; y <= by1; y++) {
    for (let x = bx0; x <= bx1; x++) {
      const d = Math.hypot(x - cx, y - cy);
      if (d > R) continue;
      const p = y * S + x;
      mask.data[(y - by0) * mask.w + (x - bx0)] = 1;
      if (d > R - 2.5) canvas.set(p, pal.membrane);
      else if (d > R - 2.5 - space) canvas.set(p, pal.lumen);
      else canvas.setMix(p, tuft, tuft, 0, 1 + 0.08 * texture[p]!);
    }
  }
  truth.push({ type: 'glomerulus', mask, key: `g${g.cx},${g.cy}` });
  const inner = R - 2.5 - space - 3;
  for (let k = Math.floor((Math.PI * inner * inner) / 110); k > 0; k--) {
    const a = rng.uniform(0, 2 * Math.PI), rr = inner * Math.sqrt(rng.uniform());
    const pale = rng.chance(0.12);
    disc(canvas, cx + rr * Math.cos(a), cy + rr * Math.sin(a), pale ? rng.uniform(2, 4) : rng.uniform(3, 4.5), pale ? mix(pal.lumen, pal.cytoplasmLight, 0.4) : pal.nucleus);
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

function paintVessel(canvas: Canvas, v: Vessel, x0: number, y0: number, pal: Palette, texture: Float32Array, rng: Rng, truth: TruthInstance[]): void {
  const margin = 5;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const [x, y] of v.ring) { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
  const lx0 = minX - x0 - margin, ly0 = minY - y0 - margin;
  const w = maxX - minX + 1 + 2 * margin, h = maxY - minY + 1 + 2 * margin;
  if (lx0 + w <= 0 || ly0 + h <= 0 || lx0 >= S || ly0 >= S) return;
  const local = new Uint8Array(w * h);
  const ring: Point[] = v.ring.map(([x, y]) => [x - x0 - lx0, y - y0 - ly0]);
  fillPolygon(local, w, h, [ring], 1);
  const halo = dilate(local, w, h, 3);
  const depth = depthInside(local, w, h, 4);
  const lumen = v.ambiguous ? mix(pal.stroma, pal.lumen, 0.35) : mix(pal.lumen, pal.cytoplasmLight, 0.3);
  const wall = v.ambiguous ? mix(pal.membrane, pal.stroma, 0.5) : pal.membrane;
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
        if (depth[q]! <= 2) canvas.set(p, wall);
        else canvas.setMix(p, lumen, lumen, 0, 1 + 0.04 * texture[p]!);
      } else if (halo[q]) {
        canvas.setMix(p, pal.stroma, pal.membrane, 0.5, 1);
      }
    }
  }
  if (inside > 0) truth.push({ type: v.ambiguous ? 'unsure' : 'blood_vessel', mask: clip, key: `v${v.cx},${v.cy}` });
  // Flat endothelial nuclei along the lining, every ~18 px of outline.
  let run = rng.uniform(0, 18);
  for (let k = 0; k < v.ring.length; k++) {
    run += 1;
    if (run < 18) continue;
    run = 0;
    const [ax, ay] = v.ring[k]!;
    const [bx, by] = v.ring[(k + 3) % v.ring.length]!;
    const angle = Math.atan2(by - ay, bx - ax);
    ellipseNucleus(canvas, ax - x0, ay - y0, 4.5, 1.8, angle, pal.nucleus);
  }
  for (let k = 0; k < v.bloodCells && !v.ambiguous; k++) {
    for (let tries = 0; tries < 20; tries++) {
      const qx = rng.int(0, w - 1), qy = rng.int(0, h - 1);
      if (depth[qy * w + qx]! < 4) continue;
      disc(canvas, qx + lx0, qy + ly0, rng.uniform(2.5, 3.5), pal.blood);
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

/** Separable [1 2 1]/4 blur, one pass. */
function blur(px: Float32Array): void {
  const tmp = new Float32Array(px.length);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const l = x > 0 ? x - 1 : x, r = x < S - 1 ? x + 1 : x;
      for (let c = 0; c < 3; c++) tmp[(y * S + x) * 3 + c] = (px[(y * S + l) * 3 + c]! + 2 * px[(y * S + x) * 3 + c]! + px[(y * S + r) * 3 + c]!) / 4;
    }
  }
  for (let y = 0; y < S; y++) {
    const u = y > 0 ? y - 1 : y, d = y < S - 1 ? y + 1 : y;
    for (let x = 0; x < S; x++) {
      for (let c = 0; c < 3; c++) px[(y * S + x) * 3 + c] = (tmp[(u * S + x) * 3 + c]! + 2 * tmp[(y * S + x) * 3 + c]! + tmp[(d * S + x) * 3 + c]!) / 4;
    }
  }
}

/**
 * Render the tile whose upper-left corner is (x0, y0) in its WSI: stroma, tubules, glomeruli,
 * vessels, then scanner blur and noise, then the tile's brightness matched to the real WSI's.
 */
export function renderTile(world: WsiWorld, stain: WsiStain, appearance: AppearanceConfig, x0: number, y0: number): RenderedTile {
  const pal = stain.palette;
  const rng = Rng.of(world.seed, world.wsi, x0, y0, 3);
  const canvas = new Canvas();
  const broad = valueNoiseField(hashSeed(world.seed, world.wsi, 11), x0, y0, 96);
  const texture = valueNoiseField(hashSeed(world.seed, world.wsi, 12), x0, y0, 4);
  for (let p = 0; p < S * S; p++) canvas.setMix(p, pal.membrane, pal.stroma, 0.6 + 0.4 * texture[p]!, 1 + 0.06 * broad[p]!);
  const objects = world.objectsNear(x0, y0);
  const truth: TruthInstance[] = [];
  const lumens: LocalMask[] = [];
  paintTubules(canvas, objects.tubules, x0, y0, pal, texture, rng, lumens);
  for (const g of objects.glomeruli) paintGlomerulus(canvas, g, x0, y0, pal, texture, truth);
  for (const v of objects.vessels) paintVessel(canvas, v, x0, y0, pal, texture, rng, truth);
  // Broad brightness variation over the whole field, like uneven section thickness.
  const px = canvas.px;
  for (let p = 0; p < S * S; p++) {
    const f = 1 + 0.05 * broad[p]!;
    px[p * 3]! *= f; px[p * 3 + 1]! *= f; px[p * 3 + 2]! *= f;
  }
  for (let k = 0; k < appearance.blur; k++) blur(px);
  // Sensor noise: unit Gaussians from a fixed table, walked from a random start with a random
  // odd stride (cheap, and no pattern shows at this amplitude).
  if (appearance.noise > 0) {
    const table = gaussianTable();
    let at = rng.int(0, NOISE_TABLE - 1);
    const stride = 2 * rng.int(1000, 20000) + 1;
    for (let k = 0; k < px.length; k++) {
      px[k]! += table[at]! * appearance.noise;
      at = (at + stride) & (NOISE_TABLE - 1);
    }
  }
  // Colour: each channel's histogram matched to the real PAS tile's (so the tissue takes the
  // real stain's colours in the same order of brightness), then the WSI's stain shift, then
  // the pooled grey mean and spread set to a draw from the real WSI's tile statistics.
  const { intensity, channelGain, reference } = stain;
  const matched = new Float32Array(px.length);
  for (let c = 0; c < 3; c++) {
    const hist = new Float64Array(256);
    for (let p = c; p < px.length; p += 3) hist[px[p]! < 0 ? 0 : px[p]! > 255 ? 255 : Math.round(px[p]!)]!++;
    const lut = new Float32Array(256);
    let cum = 0, q = 0;
    const ref = reference[c]!; // cumulative counts of the real channel, 0..1
    for (let v = 0; v < 256; v++) {
      cum += hist[v]! / (S * S);
      while (q < 255 && ref[q]! < cum - 0.5 * hist[v]! / (S * S)) q++;
      lut[v] = q * channelGain[c]!;
    }
    for (let p = c; p < px.length; p += 3) matched[p] = lut[px[p]! < 0 ? 0 : px[p]! > 255 ? 255 : Math.round(px[p]!)]!;
  }
  let sum = 0, sq = 0;
  for (let k = 0; k < matched.length; k++) { sum += matched[k]!; sq += matched[k]! * matched[k]!; }
  const mean = sum / matched.length;
  const std = Math.sqrt(Math.max(sq / matched.length - mean * mean, 1e-6));
  const targetMean = rng.normal(intensity.mean, intensity.meanSd * 0.8);
  const targetStd = Math.max(20, rng.normal(intensity.std, intensity.stdSd * 0.8));
  const data = new Uint8Array(px.length);
  for (let k = 0; k < matched.length; k++) {
    const v = (matched[k]! - mean) * (targetStd / std) + targetMean;
    data[k] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  return { image: { width: S, height: S, data }, truth, lumens };
}
