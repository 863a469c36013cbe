import type { RgbImage } from '../data/images.ts';

export type Flip = 'none' | 'h' | 'v';

/**
 * How a model input lies in memory: channels last (tfjs) or channels first (ONNX image models).
 * The resize writes either directly, so the thread that runs the network copies nothing.
 */
export type Layout = 'nhwc' | 'nchw';

/**
 * An image as model input: RGB scaled to 0..1, resized bilinearly to `size` x `size` with
 * half-pixel centres (what the trainer's tfjs resizeBilinear does), optionally flipped, in
 * either layout (the same values). Half-pixel resizing commutes with flips, so flipping the
 * output equals resizing a flipped image.
 */
export function imageToInput(img: RgbImage, size: number, flip: Flip = 'none', out = new Float32Array(size * size * 3), layout: Layout = 'nhwc'): Float32Array {
  const { width: w, height: h, data } = img;
  // Per output column (in output order, the flip folded in): the two source pixels' offsets and
  // the weight of the second, computed once rather than per pixel.
  const left = new Int32Array(size), right = new Int32Array(size), colFrac = new Float64Array(size);
  for (let x = 0; x < size; x++) {
    const a = resizeAxis(flip === 'h' ? size - 1 - x : x, w / size, w);
    left[x] = a.lo * 3; right[x] = a.hi * 3; colFrac[x] = a.frac;
  }
  // Each source row resized horizontally once (an upscale reads each one for two or three
  // output rows), in doubles, so the result is the same to the bit as blending pixel by pixel.
  const cache = [new Float64Array(size * 3), new Float64Array(size * 3)];
  const cached = [-1, -1];
  /** Source row `sy` resized; filling it never evicts row `other`, the other row this output row needs. */
  const row = (sy: number, other: number): Float64Array => {
    if (cached[0] === sy) return cache[0]!;
    if (cached[1] === sy) return cache[1]!;
    const slot = cached[0] === other ? 1 : 0;
    const buf = cache[slot]!, base = sy * w * 3;
    for (let x = 0, d = 0; x < size; x++, d += 3) {
      const l = base + left[x]!, r = base + right[x]!, fx = colFrac[x]!;
      for (let ch = 0; ch < 3; ch++) buf[d + ch] = data[l + ch]! + (data[r + ch]! - data[l + ch]!) * fx;
    }
    cached[slot] = sy;
    return buf;
  };
  const plane = size * size;
  for (let y = 0; y < size; y++) {
    const r = resizeAxis(flip === 'v' ? size - 1 - y : y, h / size, h);
    const top = row(r.lo, r.hi), bottom = row(r.hi, r.lo), fy = r.frac;
    if (layout === 'nhwc') {
      const d = y * size * 3;
      for (let i = 0; i < size * 3; i++) out[d + i] = (top[i]! + (bottom[i]! - top[i]!) * fy) / 255;
    } else {
      for (let ch = 0; ch < 3; ch++) {
        const d = ch * plane + y * size;
        for (let x = 0, i = ch; x < size; x++, i += 3) out[d + x] = (top[i]! + (bottom[i]! - top[i]!) * fy) / 255;
      }
    }
  }
  return out;
}

/** Half-pixel-centre bilinear sampling along one axis: the two source indices and the second's weight. */
export function resizeAxis(i: number, ratio: number, n: number): { lo: number; hi: number; frac: number } {
  const f = (i + 0.5) * ratio - 0.5;
  return { lo: Math.max(0, Math.floor(f)), hi: Math.min(n - 1, Math.ceil(f)), frac: f - Math.floor(f) };
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

/** A batch of images from one layout to the other. */
export function transposeInput(input: Float32Array, n: number, size: number, from: Layout): Float32Array {
  const plane = size * size;
  const out = new Float32Array(input.length);
  for (let b = 0; b < n; b++) {
    const base = b * plane * 3;
    for (let c = 0; c < 3; c++) {
      const first = base + c * plane, last = base + c;
      if (from === 'nhwc') for (let p = 0; p < plane; p++) out[first + p] = input[last + p * 3]!;
      else for (let p = 0; p < plane; p++) out[last + p * 3] = input[first + p]!;
    }
  }
  return out;
}
