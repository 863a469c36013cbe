/**
 * Float64 reference implementations (plain loops, NHWC) of the ops whose gradients the
 * engine replaces: forward and analytic backward. Verified against finite differences.
 */
export interface Arr4 { shape: [number, number, number, number]; data: Float64Array }

export function arr(shape: [number, number, number, number], data?: ArrayLike<number>): Arr4 {
  return { shape, data: data ? Float64Array.from(data) : new Float64Array(shape[0] * shape[1] * shape[2] * shape[3]) };
}
const at = (a: Arr4, n: number, y: number, x: number, c: number) => ((n * a.shape[1] + y) * a.shape[2] + x) * a.shape[3] + c;

export interface ConvGeom { stride: number; padTop: number; padLeft: number; outH: number; outW: number }

export function conv2d(x: Arr4, w: Arr4, g: ConvGeom): Arr4 {
  const [n, h, wd, ci] = x.shape;
  const [kh, kw, , co] = w.shape;
  const y = arr([n, g.outH, g.outW, co]);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) for (let o = 0; o < co; o++) {
    let s = 0;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * g.stride + ky - g.padTop;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * g.stride + kx - g.padLeft;
        if (ix < 0 || ix >= wd) continue;
        for (let c = 0; c < ci; c++) s += x.data[at(x, b, iy, ix, c)]! * w.data[at(w, ky, kx, c, o)]!;
      }
    }
    y.data[at(y, b, oy, ox, o)] = s;
  }
  return y;
}

/** Gradients of sum(dy * conv2d(x, w)) with respect to x and w. */
export function conv2dBackward(x: Arr4, w: Arr4, dy: Arr4, g: ConvGeom): { dx: Arr4; dw: Arr4 } {
  const [n, h, wd, ci] = x.shape;
  const [kh, kw, , co] = w.shape;
  const dx = arr(x.shape), dw = arr(w.shape);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) for (let o = 0; o < co; o++) {
    const d = dy.data[at(dy, b, oy, ox, o)]!;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * g.stride + ky - g.padTop;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * g.stride + kx - g.padLeft;
        if (ix < 0 || ix >= wd) continue;
        for (let c = 0; c < ci; c++) {
          dx.data[at(dx, b, iy, ix, c)] += d * w.data[at(w, ky, kx, c, o)]!;
          dw.data[at(dw, ky, kx, c, o)] += d * x.data[at(x, b, iy, ix, c)]!;
        }
      }
    }
  }
  return { dx, dw };
}

/** Max pooling; padding never wins; the first maximum in raster order takes the gradient. */
export function maxPoolBackward(x: Arr4, dy: Arr4, k: number, g: ConvGeom): { y: Arr4; dx: Arr4 } {
  const [n, h, wd, c] = x.shape;
  const y = arr([n, g.outH, g.outW, c]);
  const dx = arr(x.shape);
  for (let b = 0; b < n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) for (let ch = 0; ch < c; ch++) {
    let best = -Infinity, where = -1;
    for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const iy = oy * g.stride + ky - g.padTop, ix = ox * g.stride + kx - g.padLeft;
      if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
      const v = x.data[at(x, b, iy, ix, ch)]!;
      if (v > best) { best = v; where = at(x, b, iy, ix, ch); }
    }
    y.data[at(y, b, oy, ox, ch)] = best;
    dx.data[where] += dy.data[at(dy, b, oy, ox, ch)]!;
  }
  return { y, dx };
}

/** Gradient of nearest-neighbour upsampling by an integer factor. */
export function upsampleBackward(dy: Arr4, factor: number): Arr4 {
  const [n, oh, ow, c] = dy.shape;
  const dx = arr([n, oh / factor, ow / factor, c]);
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) for (let ch = 0; ch < c; ch++) {
    dx.data[at(dx, b, Math.floor(y / factor), Math.floor(x / factor), ch)] += dy.data[at(dy, b, y, x, ch)]!;
  }
  return dx;
}

/** TF's 'same' padding: total = max((out - 1) * s + k - in, 0), the smaller half before. */
export function geometry(inH: number, inW: number, k: number, stride: number, pad: 'same' | 'valid'): ConvGeom {
  if (pad === 'valid') return { stride, padTop: 0, padLeft: 0, outH: Math.floor((inH - k) / stride) + 1, outW: Math.floor((inW - k) / stride) + 1 };
  const outH = Math.ceil(inH / stride), outW = Math.ceil(inW / stride);
  const th = Math.max((outH - 1) * stride + k - inH, 0), tw = Math.max((outW - 1) * stride + k - inW, 0);
  return { stride, padTop: Math.floor(th / 2), padLeft: Math.floor(tw / 2), outH, outW };
}
