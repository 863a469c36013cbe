/**
 * COCO run-length encoding, as pycocotools: runs over the mask in column-major order
 * (down each column, left to right), starting with a run of zeros (possibly empty), and
 * the compressed string form of `rleToString` / `rleFrString`. Area, box and IoU work on
 * the runs directly, without decoding.
 */

export interface Rle {
  height: number;
  width: number;
  /** Alternating run lengths: zeros, ones, zeros, ... Sum = height * width. */
  counts: Uint32Array;
}

/** Encode a row-major 0/1 mask (any non-zero counts as 1). */
export function encodeMask(mask: Uint8Array, width: number, height: number): Rle {
  if (mask.length !== width * height) throw new Error(`mask has ${mask.length} pixels, expected ${width}x${height}`);
  const runs: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let p = x; p < mask.length; p += width) {
      const v = mask[p] ? 1 : 0;
      if (v !== current) {
        runs.push(run);
        run = 0;
        current = v;
      }
      run++;
    }
  }
  runs.push(run);
  return { height, width, counts: Uint32Array.from(runs) };
}

/**
 * Encode a mask given only inside a window (`mask` is w x h, row-major, at x0, y0 of a
 * width x height image; everything outside is 0). Equal to `encodeMask` of the full mask, at
 * the cost of the window: post-processing a small vessel never touches the other pixels.
 */
export function encodeWindow(mask: Uint8Array, x0: number, y0: number, w: number, h: number, width: number, height: number): Rle {
  if (mask.length !== w * h) throw new Error(`window has ${mask.length} pixels, expected ${w}x${h}`);
  if (x0 < 0 || y0 < 0 || x0 + w > width || y0 + h > height) throw new Error(`window ${w}x${h} at ${x0},${y0} is outside the ${width}x${height} image`);
  const total = width * height;
  const runs: number[] = [];
  let current = 0, start = 0, prev = -2;
  for (let x = x0; x < x0 + w; x++) {
    for (let y = y0; y < y0 + h; y++) {
      const pos = x * height + y;
      // A gap in visited positions (outside the window) holds a 0.
      if (current === 1 && pos !== prev + 1) { runs.push(prev + 1 - start); start = prev + 1; current = 0; }
      const v = mask[(y - y0) * w + (x - x0)] ? 1 : 0;
      if (v !== current) { runs.push(pos - start); start = pos; current = v; }
      prev = pos;
    }
  }
  if (current === 1 && prev + 1 < total) { runs.push(prev + 1 - start); start = prev + 1; }
  runs.push(total - start);
  return { height, width, counts: Uint32Array.from(runs) };
}

/**
 * Decode only the window [x0, x0 + w) x [y0, y0 + h) of the mask, row-major w x h: what lies
 * outside is skipped run by run, so a small instance of a large image costs its window.
 */
export function decodeWindow(rle: Rle, x0: number, y0: number, w: number, h: number): Uint8Array {
  const { height, counts } = rle;
  const out = new Uint8Array(w * h);
  const start = x0 * height, end = (x0 + w) * height;
  let pos = 0;
  for (let k = 0; k < counts.length && pos < end; k++) {
    const n = counts[k]!;
    if (k % 2 === 1 && pos + n > start) {
      for (let q = Math.max(pos, start); q < Math.min(pos + n, end); q++) {
        const x = Math.floor(q / height), y = q - x * height;
        if (y >= y0 && y < y0 + h) out[(y - y0) * w + (x - x0)] = 1;
      }
    }
    pos += n;
  }
  return out;
}

/** Decode to a row-major 0/1 mask. */
export function decodeRle(rle: Rle): Uint8Array {
  const { width, height, counts } = rle;
  const mask = new Uint8Array(width * height);
  let pos = 0; // column-major position
  for (let k = 0; k < counts.length; k++) {
    const n = counts[k]!;
    if (k % 2 === 1) {
      for (let q = pos; q < pos + n; q++) {
        const x = Math.floor(q / height);
        mask[(q - x * height) * width + x] = 1;
      }
    }
    pos += n;
  }
  if (pos !== width * height) throw new Error(`RLE runs cover ${pos} pixels, expected ${width}x${height} = ${width * height}`);
  return mask;
}

/** pycocotools' `rleToString`: LEB128-like, 5 bits per char offset by 48, runs after the third as deltas. */
export function rleToString(counts: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x = Math.floor(x / 32); // arithmetic shift, as C's >> on a signed long
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** pycocotools' `rleFrString`. Throws on characters outside the encoding's alphabet or bad totals. */
export function rleFromString(s: string, height: number, width: number): Rle {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error(`compressed RLE ends in the middle of a number`);
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`compressed RLE has an invalid character ${JSON.stringify(s[p])} at ${p}`);
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2]!;
    if (x < 0) throw new Error(`compressed RLE decodes to a negative run`);
    counts.push(x);
  }
  let total = 0;
  for (const c of counts) total += c;
  if (total !== width * height) throw new Error(`RLE runs cover ${total} pixels, expected ${width}x${height} = ${width * height}`);
  return { height, width, counts: Uint32Array.from(counts) };
}

export function rleArea(rle: Rle): number {
  let area = 0;
  for (let k = 1; k < rle.counts.length; k += 2) area += rle.counts[k]!;
  return area;
}

/** Box as pycocotools' `toBbox`: [x, y, width, height] of the set pixels; zeros when empty. */
export function rleBbox(rle: Rle): [number, number, number, number] {
  const { height, counts } = rle;
  let xMin = Infinity, xMax = -1, yMin = Infinity, yMax = -1;
  let pos = 0;
  for (let k = 0; k < counts.length; k++) {
    const n = counts[k]!;
    if (k % 2 === 1 && n > 0) {
      const start = pos;
      const end = pos + n - 1;
      const x0 = Math.floor(start / height);
      const x1 = Math.floor(end / height);
      xMin = Math.min(xMin, x0);
      xMax = Math.max(xMax, x1);
      if (x0 !== x1) {
        yMin = 0;
        yMax = height - 1;
      } else {
        yMin = Math.min(yMin, start - x0 * height);
        yMax = Math.max(yMax, end - x1 * height);
      }
    }
    pos += n;
  }
  if (xMax < 0) return [0, 0, 0, 0];
  return [xMin, yMin, xMax - xMin + 1, yMax - yMin + 1];
}

/** Area of the intersection of two masks of the same size, by walking both run lists. */
export function rleIntersection(a: Rle, b: Rle): number {
  const ca = a.counts, cb = b.counts;
  let ia = 0, ib = 0;
  let ra = ca[0] ?? 0, rb = cb[0] ?? 0; // pixels left in the current run of each
  let va = 0, vb = 0;
  let inter = 0;
  while (ia < ca.length && ib < cb.length) {
    const step = Math.min(ra, rb);
    if (va & vb) inter += step;
    ra -= step;
    rb -= step;
    if (ra === 0) { ia++; va ^= 1; ra = ca[ia] ?? 0; }
    if (rb === 0) { ib++; vb ^= 1; rb = cb[ib] ?? 0; }
  }
  return inter;
}

/** Mask IoU, as pycocotools' `iou` with iscrowd = 0; 0 when both are empty. */
export function rleIou(a: Rle, b: Rle, areaA = rleArea(a), areaB = rleArea(b)): number {
  if (a.height !== b.height || a.width !== b.width) throw new Error(`IoU of masks of different sizes: ${a.width}x${a.height} and ${b.width}x${b.height}`);
  const inter = rleIntersection(a, b);
  const union = areaA + areaB - inter;
  return union === 0 ? 0 : inter / union;
}
