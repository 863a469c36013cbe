import type { RgbImage } from '../data/images.ts';

export type Flip = 'none' | 'h' | 'v';

/**
 * An image as model input: RGB scaled to 0..1, resized bilinearly to `size` x `size` with
 * half-pixel centres (what the trainer's tfjs resizeBilinear does), optionally flipped. Half-
 * pixel resizing commutes with flips, so flipping the output equals resizing a flipped image.
 */
export function imageToInput(img: RgbImage, size: number, flip: Flip = 'none', out = new Float32Array(size * size * 3)): Float32Array {
  const { width: w, height: h, data } = img;
  const rx = w / size, ry = h / size;
  const axis = (i: number, r: number, n: number) => {
    const f = (i + 0.5) * r - 0.5;
    return { lo: Math.max(0, Math.floor(f)), hi: Math.min(n - 1, Math.ceil(f)), frac: f - Math.floor(f) };
  };
  const cols = Array.from({ length: size }, (_, x) => axis(x, rx, w));
  for (let y = 0; y < size; y++) {
    const r = axis(y, ry, h);
    const dy = flip === 'v' ? size - 1 - y : y;
    for (let x = 0; x < size; x++) {
      const c = cols[x]!;
      const dx = flip === 'h' ? size - 1 - x : x;
      const tl = (r.lo * w + c.lo) * 3, tr = (r.lo * w + c.hi) * 3, bl = (r.hi * w + c.lo) * 3, br = (r.hi * w + c.hi) * 3;
      const d = (dy * size + dx) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = data[tl + ch]! + (data[tr + ch]! - data[tl + ch]!) * c.frac;
        const bottom = data[bl + ch]! + (data[br + ch]! - data[bl + ch]!) * c.frac;
        out[d + ch] = (top + (bottom - top) * r.frac) / 255;
      }
    }
  }
  return out;
}

/** Model input size for a canvas of `canvas` pixels when a 512 tile goes in at `imgsz`: the same scale, rounded to a multiple of 32. */
export function canvasInputSize(canvas: number, imgsz: number, tileSize = 512): number {
  return Math.max(32, Math.round((canvas * imgsz) / tileSize / 32) * 32);
}

/**
 * A tile with `pad` pixels of context on every side: the neighbours' pixels where `neighbour`
 * returns them (dx, dy in -1..1), the tile mirrored at its edge where it does not (mirroring
 * continues tissue without inventing an edge the model never saw).
 */
export function contextCanvas(tile: RgbImage, pad: number, neighbour: (dx: number, dy: number) => RgbImage | null): RgbImage {
  const t = tile.width;
  if (pad > t) throw new Error(`context ${pad} px is more than a tile (${t} px)`);
  const size = t + 2 * pad;
  const data = new Uint8Array(size * size * 3);
  const grid = [-1, 0, 1].map((dy) => [-1, 0, 1].map((dx) => (dx === 0 && dy === 0 ? tile : neighbour(dx, dy))));
  const mirror = (v: number) => (v < 0 ? -v - 1 : v >= t ? 2 * t - v - 1 : v);
  for (let y = 0; y < size; y++) {
    const sy = y - pad;
    const gy = sy < 0 ? 0 : sy >= t ? 2 : 1;
    for (let x = 0; x < size; x++) {
      const sx = x - pad;
      const gx = sx < 0 ? 0 : sx >= t ? 2 : 1;
      const n = grid[gy]![gx];
      const s = n ? ((sy - (gy - 1) * t) * t + (sx - (gx - 1) * t)) * 3 : (mirror(sy) * t + mirror(sx)) * 3;
      const src = n ? n.data : tile.data;
      const d = (y * size + x) * 3;
      data[d] = src[s]!; data[d + 1] = src[s + 1]!; data[d + 2] = src[s + 2]!;
    }
  }
  return { width: size, height: size, data };
}
