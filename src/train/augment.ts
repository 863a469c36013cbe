import { maskComponents } from '../data/contour.ts';
import { rasterize, type Point } from '../data/rasterize.ts';
import { TILE_SIZE, type Annotation } from '../data/types.ts';
import type { Rng } from '../util/random.ts';

/**
 * Augmentations that move pixels and polygons together. A sample is a 512x512 float RGB
 * image (0..255) with polygons in its pixel coordinates; polygons may run outside the
 * frame, and rasterisation clips them (so boxes come from the visible part).
 */
export interface Sample {
  pixels: Float32Array;
  annotations: Annotation[];
  /** 1 where the pixels come from tissue nobody labelled (stitched context): no loss there. */
  ignore?: Uint8Array;
}

const S = TILE_SIZE;

/** Bilinear sample of channel c at (x, y), 0 outside the frame... filled with the grey of the tile edge instead of black. */
function sample(px: Float32Array, x: number, y: number, c: number, fill: number): number {
  const x0 = Math.floor(x), y0 = Math.floor(y);
  if (x0 < 0 || y0 < 0 || x0 >= S - 1 || y0 >= S - 1) return fill;
  const fx = x - x0, fy = y - y0;
  const a = px[(y0 * S + x0) * 3 + c]!, b = px[(y0 * S + x0 + 1) * 3 + c]!;
  const d = px[((y0 + 1) * S + x0) * 3 + c]!, e = px[((y0 + 1) * S + x0 + 1) * 3 + c]!;
  return (a + (b - a) * fx) * (1 - fy) + (d + (e - d) * fx) * fy;
}

/**
 * Random scale and translation (YOLO's `scale` and `translate`): the image is resampled
 * bilinearly about its centre; polygons move the same way. Areas outside the source take
 * YOLO's grey (114).
 */
export function scaleTranslate(s: Sample, rng: Rng, scaleGain: number, translate: number): Sample {
  if (scaleGain <= 0 && translate <= 0) return s;
  const k = rng.uniform(1 - scaleGain, 1 + scaleGain);
  const tx = rng.uniform(-translate, translate) * S, ty = rng.uniform(-translate, translate) * S;
  const c = S / 2;
  // Forward map: p' = (p - c) * k + c + t; inverse for resampling.
  const out = new Float32Array(S * S * 3);
  for (let y = 0; y < S; y++) {
    const sy = (y - c - ty) / k + c;
    for (let x = 0; x < S; x++) {
      const sx = (x - c - tx) / k + c;
      for (let ch = 0; ch < 3; ch++) out[(y * S + x) * 3 + ch] = sample(s.pixels, sx, sy, ch, 114);
    }
  }
  let ignore: Uint8Array | undefined;
  if (s.ignore) {
    // Nearest neighbour; what comes from outside the source is padding, plain background.
    ignore = new Uint8Array(S * S);
    for (let y = 0; y < S; y++) {
      const sy = Math.round((y - c - ty) / k + c);
      for (let x = 0; x < S; x++) {
        const sx = Math.round((x - c - tx) / k + c);
        if (sx >= 0 && sy >= 0 && sx < S && sy < S) ignore[y * S + x] = s.ignore[sy * S + sx]!;
      }
    }
  }
  const move = ([x, y]: Point): Point => [Math.round((x - c) * k + c + tx), Math.round((y - c) * k + c + ty)];
  return { pixels: out, annotations: s.annotations.map((a) => ({ type: a.type, coordinates: a.coordinates.map((r) => r.map(move)) })), ignore };
}

/**
 * Mosaic (YOLO's): four samples on a 2x2 canvas, cropped back to 512 px at a random offset,
 * so every batch sees objects cut at new places and at new neighbours.
 */
export function mosaic(samples: readonly Sample[], rng: Rng): Sample {
  const ox = rng.int(0, S), oy = rng.int(0, S);
  const out = new Float32Array(S * S * 3);
  const annotations: Annotation[] = [];
  const ignore = samples.some((m) => m.ignore) ? new Uint8Array(S * S) : undefined;
  samples.slice(0, 4).forEach((smp, q) => {
    const qx = (q % 2) * S - ox, qy = Math.floor(q / 2) * S - oy; // where this quadrant's origin lands
    for (let y = Math.max(0, qy); y < Math.min(S, qy + S); y++) {
      const srcRow = (y - qy) * S;
      for (let x = Math.max(0, qx); x < Math.min(S, qx + S); x++) {
        const src = (srcRow + x - qx) * 3, dst = (y * S + x) * 3;
        out[dst] = smp.pixels[src]!; out[dst + 1] = smp.pixels[src + 1]!; out[dst + 2] = smp.pixels[src + 2]!;
        if (ignore && smp.ignore) ignore[y * S + x] = smp.ignore[srcRow + x - qx]!;
      }
    }
    for (const a of smp.annotations) annotations.push(...clipToFrame({ type: a.type, coordinates: a.coordinates.map((r) => r.map(([x, y]) => [x + qx, y + qy] as Point)) }));
  });
  return { pixels: out, annotations, ignore };
}

/**
 * The official YOLOv5/7 mosaic: the four samples meet at a random centre (each coordinate
 * uniform in [S/2, 3S/2]) on a 2S x 2S canvas (grey 114 where no sample reaches), and the
 * random scale and translation act on the whole canvas: the output shows the canvas around
 * its centre, zoomed by 1 +- `scaleGain` and shifted by up to `translate` x S. Zoomed out,
 * the output holds more tissue (and more, smaller objects) instead of grey borders.
 * Polygons are clipped to the canvas, moved, and clipped to the frame.
 */
export function canvasMosaic(samples: readonly Sample[], rng: Rng, scaleGain: number, translate: number): Sample {
  const xc = Math.floor(rng.uniform(S / 2, (3 * S) / 2)), yc = Math.floor(rng.uniform(S / 2, (3 * S) / 2));
  const C = 2 * S;
  const canvas = new Float32Array(C * C * 3).fill(114);
  const ignoreCanvas = samples.some((m) => m.ignore) ? new Uint8Array(C * C) : undefined;
  const origins = [[xc - S, yc - S], [xc, yc - S], [xc - S, yc], [xc, yc]] as const;
  const k = rng.uniform(1 - scaleGain, 1 + scaleGain);
  const tx = rng.uniform(0.5 - translate, 0.5 + translate) * S, ty = rng.uniform(0.5 - translate, 0.5 + translate) * S;
  const annotations: Annotation[] = [];
  const move = (ox: number, oy: number) => ([x, y]: Point): Point => [Math.round(k * (x + ox - S) + tx), Math.round(k * (y + oy - S) + ty)];
  samples.slice(0, 4).forEach((smp, q) => {
    const [ox, oy] = origins[q]!;
    // The part of the sample that lands on the canvas, in the sample's own pixels.
    const lx0 = Math.max(0, -ox), ly0 = Math.max(0, -oy), lx1 = Math.min(S, C - ox), ly1 = Math.min(S, C - oy);
    for (let y = ly0; y < ly1; y++) {
      const src = (y * S + lx0) * 3, dst = ((y + oy) * C + lx0 + ox) * 3;
      canvas.set(smp.pixels.subarray(src, src + (lx1 - lx0) * 3), dst);
      if (ignoreCanvas && smp.ignore) ignoreCanvas.set(smp.ignore.subarray(y * S + lx0, y * S + lx1), (y + oy) * C + lx0 + ox);
    }
    for (const a of smp.annotations) {
      for (const piece of clipToFrame(a, 10, [lx0, ly0, lx1, ly1])) {
        annotations.push(...clipToFrame({ type: piece.type, coordinates: piece.coordinates.map((r) => r.map(move(ox, oy))) }));
      }
    }
  });
  // Resample: output (x, y) shows canvas ((x - tx) / k + S, (y - ty) / k + S), bilinear, grey outside.
  const out = new Float32Array(S * S * 3);
  const ignore = ignoreCanvas ? new Uint8Array(S * S) : undefined;
  for (let y = 0; y < S; y++) {
    const cy = (y - ty) / k + S;
    const y0 = Math.floor(cy), fy = cy - y0;
    for (let x = 0; x < S; x++) {
      const cx = (x - tx) / k + S;
      const x0 = Math.floor(cx), fx = cx - x0;
      const o = (y * S + x) * 3;
      if (x0 < 0 || y0 < 0 || x0 >= C - 1 || y0 >= C - 1) { out[o] = out[o + 1] = out[o + 2] = 114; continue; }
      const a = (y0 * C + x0) * 3, b = a + 3, d = a + C * 3, e = d + 3;
      for (let ch = 0; ch < 3; ch++) {
        out[o + ch] = (canvas[a + ch]! + (canvas[b + ch]! - canvas[a + ch]!) * fx) * (1 - fy) + (canvas[d + ch]! + (canvas[e + ch]! - canvas[d + ch]!) * fx) * fy;
      }
      if (ignore) ignore[y * S + x] = ignoreCanvas![Math.round(cy) * C + Math.round(cx)] ?? 0;
    }
  }
  return { pixels: out, annotations, ignore };
}

/** A tile of a 3x3 neighbourhood for stitching: its pixels (0..255 RGB) and, when labelled, its polygons. */
export interface Neighbour {
  pixels: Uint8Array;
  annotations: Annotation[] | null;
}

/**
 * Stitched context (what the seed's authors could not build): a 512 px crop of the mosaic of a
 * tile and its 8 neighbours in the slide (found by `i, j`), shifted by up to `maxShift` px, so
 * vessels cut by tile borders are seen whole. Labels of labelled neighbours come along; pixels
 * of unlabelled neighbours are marked `ignore` (no loss there); missing neighbours are padding.
 * `grid[dy + 1][dx + 1]` is the neighbour at (dx, dy) tiles; the centre must be labelled.
 */
export function stitchCrop(grid: (Neighbour | null)[][], rng: Rng, maxShift = S / 2): Sample {
  const ox = rng.int(-maxShift, maxShift), oy = rng.int(-maxShift, maxShift);
  const pixels = new Float32Array(S * S * 3).fill(114);
  const ignore = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    const cy = y + oy, ty = Math.floor(cy / S), ly = cy - ty * S;
    for (let x = 0; x < S; x++) {
      const cx = x + ox, tx = Math.floor(cx / S), lx = cx - tx * S;
      const n = grid[ty + 1]?.[tx + 1];
      if (!n) continue;
      const src = (ly * S + lx) * 3, dst = (y * S + x) * 3;
      pixels[dst] = n.pixels[src]!; pixels[dst + 1] = n.pixels[src + 1]!; pixels[dst + 2] = n.pixels[src + 2]!;
      if (!n.annotations) ignore[y * S + x] = 1;
    }
  }
  const pieces: { tile: number; a: Annotation }[] = [];
  grid.forEach((row, r) => row.forEach((n, c) => {
    if (!n?.annotations) return;
    const dx = (c - 1) * S - ox, dy = (r - 1) * S - oy;
    for (const a of n.annotations) {
      for (const piece of clipToFrame({ type: a.type, coordinates: a.coordinates.map((ring) => ring.map(([x, y]) => [x + dx, y + dy] as Point)) })) pieces.push({ tile: r * 3 + c, a: piece });
    }
  }));
  return { pixels, annotations: joinAcrossSeams(pieces), ignore };
}

/**
 * Labels are drawn per tile, so a vessel crossing a tile border is two polygons that touch at
 * the seam. In a stitched crop they are one vessel: pieces of the same type from different
 * tiles that touch (8-neighbours) are merged and traced again.
 */
function joinAcrossSeams(pieces: { tile: number; a: Annotation }[]): Annotation[] {
  const masks = pieces.map((p) => rasterize(p.a.coordinates, S, S));
  const boxes = masks.map((m) => {
    let x1 = S, y1 = S, x2 = -1, y2 = -1;
    for (let p = 0; p < m.length; p++) if (m[p]) { const x = p % S, y = (p - x) / S; x1 = Math.min(x1, x); x2 = Math.max(x2, x); y1 = Math.min(y1, y); y2 = Math.max(y2, y); }
    return [x1, y1, x2, y2] as const;
  });
  const parent = pieces.map((_, k) => k);
  const find = (k: number): number => (parent[k] === k ? k : (parent[k] = find(parent[k]!)));
  const touch = (a: number, b: number): boolean => {
    const [ax1, ay1, ax2, ay2] = boxes[a]!, [bx1, by1, bx2, by2] = boxes[b]!;
    if (ax1 > bx2 + 1 || bx1 > ax2 + 1 || ay1 > by2 + 1 || by1 > ay2 + 1) return false;
    const ma = masks[a]!, mb = masks[b]!;
    for (let y = Math.max(ay1, by1 - 1); y <= Math.min(ay2, by2 + 1); y++) {
      for (let x = Math.max(ax1, bx1 - 1); x <= Math.min(ax2, bx2 + 1); x++) {
        if (!ma[y * S + x]) continue;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < S && yy < S && mb[yy * S + xx]) return true;
        }
      }
    }
    return false;
  };
  for (let a = 0; a < pieces.length; a++) {
    for (let b = a + 1; b < pieces.length; b++) {
      if (pieces[a]!.tile !== pieces[b]!.tile && pieces[a]!.a.type === pieces[b]!.a.type && touch(a, b)) parent[find(a)] = find(b);
    }
  }
  const groups = new Map<number, number[]>();
  pieces.forEach((_, k) => {
    const list = groups.get(find(k));
    if (list) list.push(k);
    else groups.set(find(k), [k]);
  });
  const out: Annotation[] = [];
  for (const members of groups.values()) {
    if (members.length === 1) { out.push(pieces[members[0]!]!.a); continue; }
    const union = new Uint8Array(S * S);
    for (const k of members) masks[k]!.forEach((v, p) => { if (v) union[p] = 1; });
    for (const c of maskComponents(union, S, S)) out.push({ type: pieces[members[0]!]!.a.type, coordinates: [c.ring] });
  }
  return out;
}

/**
 * The visible pieces of a polygon, traced back to polygons: what lies outside the frame has no
 * pixels, so a later shift or zoom must not bring its label back into view.
 */
export function clipToFrame(a: Annotation, minArea = 10, rect: [number, number, number, number] = [0, 0, S, S]): Annotation[] {
  const [rx0, ry0, rx1, ry1] = rect;
  const inside = a.coordinates.every((r) => r.every(([x, y]) => x >= rx0 && y >= ry0 && x < rx1 && y < ry1));
  if (inside) return [a];
  // Components are traced in the polygon's window only: the rest of the frame is empty.
  const full = rasterize(a.coordinates, S, S);
  const [wx0, wy0, wx1, wy1] = polygonWindow(a);
  const x0 = Math.max(wx0, rx0), y0 = Math.max(wy0, ry0), x1 = Math.min(wx1, rx1), y1 = Math.min(wy1, ry1);
  const w = x1 - x0, h = y1 - y0;
  if (w <= 0 || h <= 0) return [];
  const win = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) win.set(full.subarray((y0 + y) * S + x0, (y0 + y) * S + x1), y * w);
  return maskComponents(win, w, h)
    .filter((c) => c.area >= minArea)
    .map((c) => ({ type: a.type, coordinates: [c.ring.map(([x, y]) => [x + x0, y + y0] as Point)] }));
}

/**
 * Stain jitter by colour deconvolution (Ruifrok and Johnston): optical density projected on a
 * haematoxylin / eosin-PAS / residual basis, each stain's amount scaled by 1 + N(0, sigma) and
 * shifted by N(0, sigma / 10), then recomposed. Varies stain strength and hue the way
 * scanners and labs do, unlike an RGB or HSV jitter.
 */
const STAINS = [[0.65, 0.7, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];
const INVERSE = invert3(STAINS);

function invert3(m: number[][]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m as [[number, number, number], [number, number, number], [number, number, number]];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

/** -log((v + 1) / 256) for v in 0..255 (v >= 1), by table at integer intensities. */
const OD_TABLE = Float64Array.from({ length: 256 }, (_, v) => -Math.log((Math.max(v, 1) + 1) / 256));
const opticalDensity = (v: number): number => (Number.isInteger(v) && v >= 0 && v <= 255 ? OD_TABLE[v]! : -Math.log((Math.max(v, 1) + 1) / 256));

export function stainJitter(s: Sample, rng: Rng, sigma: number): Sample {
  if (sigma <= 0) return s;
  const alpha = [0, 1, 2].map(() => 1 + rng.normal(0, sigma));
  const beta = [0, 1, 2].map(() => rng.normal(0, sigma / 10));
  // The whole change is affine in optical density: od' = od x (INVERSE diag(alpha) STAINS) + beta x STAINS.
  const m = [0, 1, 2].map((i) => [0, 1, 2].map((c) => [0, 1, 2].reduce((sum, k) => sum + INVERSE[i]![k]! * alpha[k]! * STAINS[k]![c]!, 0)));
  const b = [0, 1, 2].map((c) => [0, 1, 2].reduce((sum, k) => sum + beta[k]! * STAINS[k]![c]!, 0));
  const [m00, m01, m02] = m[0] as [number, number, number], [m10, m11, m12] = m[1] as [number, number, number], [m20, m21, m22] = m[2] as [number, number, number];
  const [b0, b1, b2] = b as [number, number, number];
  const out = new Float32Array(s.pixels.length);
  const px = s.pixels;
  for (let p = 0; p < S * S * 3; p += 3) {
    const o0 = opticalDensity(px[p]!), o1 = opticalDensity(px[p + 1]!), o2 = opticalDensity(px[p + 2]!);
    out[p] = Math.min(255, Math.max(0, 256 * Math.exp(-(o0 * m00 + o1 * m10 + o2 * m20 + b0)) - 1));
    out[p + 1] = Math.min(255, Math.max(0, 256 * Math.exp(-(o0 * m01 + o1 * m11 + o2 * m21 + b1)) - 1));
    out[p + 2] = Math.min(255, Math.max(0, 256 * Math.exp(-(o0 * m02 + o1 * m12 + o2 * m22 + b2)) - 1));
  }
  return { pixels: out, annotations: s.annotations };
}

/** The pixel window [x0, x1) x [y0, y1) of the frame a polygon's vertices span (its raster lies inside). */
function polygonWindow(a: Annotation): [number, number, number, number] {
  let x0 = S, y0 = S, x1 = 0, y1 = 0;
  for (const r of a.coordinates) for (const [x, y] of r) {
    x0 = Math.min(x0, Math.floor(x)); y0 = Math.min(y0, Math.floor(y)); x1 = Math.max(x1, Math.ceil(x) + 1); y1 = Math.max(y1, Math.ceil(y) + 1);
  }
  return [Math.max(0, x0), Math.max(0, y0), Math.min(S, x1), Math.min(S, y1)];
}

/** A polygon's visible extent in the frame (fillPoly's pixels), or null when under `minArea` pixels show. */
export function visibleBox(a: Annotation, minArea = 10): [number, number, number, number] | null {
  const m = rasterize(a.coordinates, S, S);
  const [wx0, wy0, wx1, wy1] = polygonWindow(a);
  let x1 = S, y1 = S, x2 = -1, y2 = -1, area = 0;
  for (let y = wy0; y < wy1; y++) for (let x = wx0; x < wx1; x++) if (m[y * S + x]) { area++; if (x < x1) x1 = x; if (x > x2) x2 = x; if (y < y1) y1 = y; if (y > y2) y2 = y; }
  return area < minArea ? null : [x1, y1, x2 + 1, y2 + 1];
}

/**
 * A polygon's mask at prototype resolution as the fraction of each cell it covers (4x4 samples
 * of the full-resolution fillPoly raster per cell). Rasterising the scaled polygon instead, as
 * YOLOv5 does, includes every boundary cell and doubles a small vessel's mask at 1/8 scale;
 * soft coverage is what the upsample-then-threshold-at-0.5 decoding reproduces.
 */
export function protoMask(a: Annotation, protoSize: number, target: MaskTarget = 'coverage'): Float32Array {
  if (target === 'official') return officialProtoMask(a, protoSize);
  const full = rasterize(a.coordinates, S, S);
  const f = S / protoSize;
  const k = 4;
  const out = new Float32Array(protoSize * protoSize);
  // Only cells under the polygon's window can be covered.
  const [x0, y0, x1, y1] = polygonWindow(a);
  for (let v = Math.floor(y0 / f); v < Math.min(protoSize, Math.ceil(y1 / f)); v++) {
    for (let u = Math.floor(x0 / f); u < Math.min(protoSize, Math.ceil(x1 / f)); u++) {
      let hit = 0;
      for (let j = 0; j < k; j++) {
        const y = Math.min(S - 1, Math.floor((v + (j + 0.5) / k) * f));
        for (let i = 0; i < k; i++) hit += full[y * S + Math.min(S - 1, Math.floor((u + (i + 0.5) / k) * f))]!;
      }
      out[v * protoSize + u] = hit / (k * k);
    }
  }
  return out;
}

/** How instance masks become prototype-resolution targets: our cell coverage, or the official 0/1 masks. */
export type MaskTarget = 'coverage' | 'official';
export const MASK_TARGETS: readonly MaskTarget[] = ['coverage', 'official'];

/**
 * The official YOLOv7-seg mask target (utils/segment/dataloaders.py `polygon2mask`): the
 * polygon filled at full resolution, then resized to prototype resolution as cv2.resize does
 * by default (bilinear at half-pixel centres, no area averaging) into a uint8 image, so a cell
 * is 1 when the interpolated value rounds to 1 (>= 0.5), else 0.
 */
export function officialProtoMask(a: Annotation, protoSize: number): Float32Array {
  const full = rasterize(a.coordinates, S, S);
  const f = S / protoSize;
  const out = new Float32Array(protoSize * protoSize);
  const at = (x: number, y: number) => full[Math.min(S - 1, Math.max(0, y)) * S + Math.min(S - 1, Math.max(0, x))]!;
  const [x0, y0, x1, y1] = polygonWindow(a);
  for (let v = Math.max(0, Math.floor(y0 / f) - 1); v < Math.min(protoSize, Math.ceil(y1 / f) + 1); v++) {
    const sy = Math.max(0, (v + 0.5) * f - 0.5), ry = Math.floor(sy), fy = sy - ry;
    for (let u = Math.max(0, Math.floor(x0 / f) - 1); u < Math.min(protoSize, Math.ceil(x1 / f) + 1); u++) {
      const sx = Math.max(0, (u + 0.5) * f - 0.5), rx = Math.floor(sx), fx = sx - rx;
      const value = (at(rx, ry) * (1 - fx) + at(rx + 1, ry) * fx) * (1 - fy) + (at(rx, ry + 1) * (1 - fx) + at(rx + 1, ry + 1) * fx) * fy;
      out[v * protoSize + u] = value >= 0.5 ? 1 : 0;
    }
  }
  return out;
}
