/**
 * YOLOv5/7 target assignment, in plain arrays: each ground-truth box goes to the anchors of a
 * level whose shape ratio to it is below `anchorT` (4.0) in both sides, in its own grid cell
 * and the two neighbouring cells its centre is closest to (so up to 3 cells per anchor).
 */

/** One ground-truth instance: image index in the batch, class, box (normalised cx, cy, w, h). */
export interface Target {
  image: number;
  cls: number;
  box: [number, number, number, number];
}

/** Assignments of one level: parallel arrays, one entry per (target, anchor, cell). */
export interface LevelAssignment {
  image: Int32Array;
  anchor: Int32Array;
  gy: Int32Array;
  gx: Int32Array;
  /** Target box in grid units relative to the cell: (x - gx, y - gy, w, h). */
  tbox: Float32Array; // [n * 4]
  /** Anchor (w, h) in grid units. */
  anchorWh: Float32Array; // [n * 2]
  cls: Int32Array;
  /** Index of the target in the input list (for its mask). */
  target: Int32Array;
  count: number;
}

const OFFSETS: [number, number][] = [[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]];

/**
 * Assign targets to one level. `anchors` are (w, h) in input pixels, `stride` the level's
 * stride, `gridW`/`gridH` its size; boxes are normalised to the input size `gridW * stride`.
 */
export function assignLevel(targets: readonly Target[], anchors: readonly [number, number][], stride: number, gridW: number, gridH: number, anchorT = 4.0, bias = 0.5): LevelAssignment {
  type Row = { image: number; anchor: number; gy: number; gx: number; tbox: number[]; anchorWh: number[]; cls: number; target: number };
  // Anchor-major list of (target, anchor) pairs whose shapes match.
  const matched: { t: Target; ti: number; a: number; x: number; y: number; w: number; h: number; use: boolean[] }[] = [];
  anchors.forEach(([aw, ah], a) => {
    const awg = aw / stride, ahg = ah / stride;
    targets.forEach((t, ti) => {
      const x = t.box[0] * gridW, y = t.box[1] * gridH, w = t.box[2] * gridW, h = t.box[3] * gridH;
      const rw = w / awg, rh = h / ahg;
      if (Math.max(rw, 1 / rw, rh, 1 / rh) >= anchorT) return;
      // Neighbours: left/up when the centre is in the left/upper half of its cell (and not in
      // the first cell), right/down likewise from the far side.
      const xi = gridW - x, yi = gridH - y;
      matched.push({ t, ti, a, x, y, w, h, use: [true, x % 1 < bias && x > 1, y % 1 < bias && y > 1, xi % 1 < bias && xi > 1, yi % 1 < bias && yi > 1] });
    });
  });
  // Offset-major, as YOLOv5 orders them (duplicates into one cell: the last one written wins).
  const rows: Row[] = [];
  OFFSETS.forEach(([ox, oy], o) => {
    for (const m of matched) {
      if (!m.use[o]) continue;
      // The cell is floor(centre - offset * bias): offset (1, 0) moves one cell left.
      const gx = Math.min(Math.max(Math.floor(m.x - ox * bias), 0), gridW - 1);
      const gy = Math.min(Math.max(Math.floor(m.y - oy * bias), 0), gridH - 1);
      const [aw, ah] = anchors[m.a]!;
      rows.push({ image: m.t.image, anchor: m.a, gy, gx, tbox: [m.x - gx, m.y - gy, m.w, m.h], anchorWh: [aw / stride, ah / stride], cls: m.t.cls, target: m.ti });
    }
  });
  return {
    image: Int32Array.from(rows.map((r) => r.image)),
    anchor: Int32Array.from(rows.map((r) => r.anchor)),
    gy: Int32Array.from(rows.map((r) => r.gy)),
    gx: Int32Array.from(rows.map((r) => r.gx)),
    tbox: Float32Array.from(rows.flatMap((r) => r.tbox)),
    anchorWh: Float32Array.from(rows.flatMap((r) => r.anchorWh)),
    cls: Int32Array.from(rows.map((r) => r.cls)),
    target: Int32Array.from(rows.map((r) => r.target)),
    count: rows.length,
  };
}
