/**
 * The window grid of a slide and its cores: windows of `tile` px overlap by `overlap` px; each
 * window's core is the part of it closer to its own centre than to its neighbours' (the
 * overlap split in the middle), so the cores tile the slide without gaps or overlaps. An
 * instance belongs to the window whose core holds its box centre.
 */

export type Rect = [number, number, number, number]; // x0, y0, x1, y1 (exclusive)

export interface SlideWindow {
  index: number;
  row: number;
  col: number;
  /** Top-left corner in slide (analysis) pixels; the window is tile x tile (it may run past the slide's edge). */
  x: number;
  y: number;
  core: Rect;
}

/** Window starts along one axis: every `stride` px, the last one flush with the end. */
export function windowStarts(length: number, tile: number, overlap: number): number[] {
  if (!(overlap >= 0 && overlap < tile)) throw new Error(`--overlap must be in 0..${tile - 1} px for ${tile} px windows, got ${overlap}`);
  if (length <= tile) return [0];
  const stride = tile - overlap;
  const n = Math.ceil((length - tile) / stride) + 1;
  return Array.from({ length: n }, (_, k) => Math.min(k * stride, length - tile));
}

/** Core bounds along one axis: boundaries in the middle of each overlap, the slide's ends outside. */
function coreBounds(starts: number[], tile: number, length: number): [number, number][] {
  return starts.map((s, k) => {
    const lo = k === 0 ? 0 : Math.floor((s + starts[k - 1]! + tile) / 2);
    const hi = k === starts.length - 1 ? Math.max(length, s + tile) : Math.floor((starts[k + 1]! + s + tile) / 2);
    return [lo, hi];
  });
}

export function windowGrid(width: number, height: number, tile: number, overlap: number): { windows: SlideWindow[]; rows: number; cols: number } {
  const xs = windowStarts(width, tile, overlap), ys = windowStarts(height, tile, overlap);
  const cx = coreBounds(xs, tile, width), cy = coreBounds(ys, tile, height);
  const windows: SlideWindow[] = [];
  ys.forEach((y, row) => xs.forEach((x, col) => {
    windows.push({ index: windows.length, row, col, x, y, core: [cx[col]![0], cy[row]![0], cx[col]![1], cy[row]![1]] });
  }));
  return { windows, rows: ys.length, cols: xs.length };
}

export const inRect = ([x0, y0, x1, y1]: Rect, x: number, y: number): boolean => x >= x0 && x < x1 && y >= y0 && y < y1;

export function intersectRects(a: Rect, b: Rect): Rect | null {
  const r: Rect = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  return r[2] > r[0] && r[3] > r[1] ? r : null;
}
