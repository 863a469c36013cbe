/**
 * Polygon rasterisation with the pixel rules of OpenCV's `cv2.fillPoly` (8-connected lines,
 * integer vertices, shift 0): every edge is drawn as a Bresenham line, so boundary pixels
 * are always set, and scanlines are filled between edge crossings using OpenCV's 16.16
 * fixed-point edge walk, including its rounding and its bubble-sorted active edge list.
 * Matching it pixel for pixel matters because the competition's masks were made this way:
 * a one-pixel rim on an 800 px vessel moves IoU by several points.
 * Verified against fixtures computed once with OpenCV 4.6 (test/fixtures/fillpoly.json).
 */

export type Point = readonly [number, number];
export type Ring = readonly Point[];

const XY_SHIFT = 16;
const XY_ONE = 1 << XY_SHIFT;

interface PolyEdge {
  y0: number;
  y1: number;
  x: number; // fixed point
  dx: number; // fixed point per scanline
  next: PolyEdge | null;
}

/** Set pixel (x, y) if inside the image. */
function plot(mask: Uint8Array, width: number, height: number, x: number, y: number, value: number): void {
  if (x >= 0 && x < width && y >= 0 && y < height) mask[y * width + x] = value;
}

/** OpenCV's LineIterator with connectivity 8 and leftToRight = true. */
export function drawLine(
  mask: Uint8Array, width: number, height: number,
  x0: number, y0: number, x1: number, y1: number, value = 1,
): void {
  if (x1 < x0) {
    [x0, x1] = [x1, x0];
    [y0, y1] = [y1, y0];
  }
  let major = x1 - x0;
  let minor = Math.abs(y1 - y0);
  const ySign = y1 < y0 ? -1 : 1;
  // Which axis the iterator always steps along, and which it steps along when err < 0.
  let majorStep: Point = [1, 0];
  let minorStep: Point = [0, ySign];
  if (minor > major) {
    [major, minor] = [minor, major];
    [majorStep, minorStep] = [minorStep, majorStep];
  }
  let err = major - 2 * minor;
  const plusDelta = 2 * major;
  const minusDelta = -2 * minor;
  let x = x0;
  let y = y0;
  for (let i = 0; i <= major; i++) {
    plot(mask, width, height, x, y, value);
    const takeMinor = err < 0;
    err += minusDelta + (takeMinor ? plusDelta : 0);
    x += majorStep[0] + (takeMinor ? minorStep[0] : 0);
    y += majorStep[1] + (takeMinor ? minorStep[1] : 0);
  }
}

/** OpenCV's CollectPolyEdges for integer vertices: draws the outline and returns the edges. */
function collectEdges(mask: Uint8Array, width: number, height: number, ring: Ring, value: number, edges: PolyEdge[]): void {
  const n = ring.length;
  let [px, py] = ring[n - 1]!;
  for (let k = 0; k < n; k++) {
    const [qx, qy] = ring[k]!;
    drawLine(mask, width, height, px, py, qx, qy, value);
    if (py !== qy) {
      const x0 = px * XY_ONE;
      const x1 = qx * XY_ONE;
      const dx = Math.trunc((x1 - x0) / (qy - py));
      if (py < qy) edges.push({ y0: py, y1: qy, x: x0, dx, next: null });
      else edges.push({ y0: qy, y1: py, x: x1, dx, next: null });
    }
    px = qx;
    py = qy;
  }
}

/** OpenCV's FillEdgeCollection (non-antialiased): fills between pairs of active edges. */
function fillEdges(mask: Uint8Array, width: number, height: number, edges: PolyEdge[], value: number): void {
  const total = edges.length;
  if (total < 2) return;
  let yMax = -Infinity;
  for (const e of edges) yMax = Math.max(yMax, e.y1);
  edges.sort((a, b) => a.y0 - b.y0 || a.x - b.x || a.dx - b.dx);
  const sentinel: PolyEdge = { y0: Number.MAX_SAFE_INTEGER, y1: 0, x: 0, dx: 0, next: null };
  edges.push(sentinel);
  const head: PolyEdge = { y0: 0, y1: 0, x: 0, dx: 0, next: null };
  let i = 0;
  let e = edges[0]!;
  yMax = Math.min(yMax, height);

  for (let y = e.y0; y < yMax; y++) {
    let prelast: PolyEdge = head;
    let last = head.next;
    let draw = false;
    while (last || e.y0 === y) {
      if (last && last.y1 === y) {
        prelast.next = last.next; // the edge ends above this scanline
        last = last.next;
        continue;
      }
      const keepPrelast: PolyEdge = prelast;
      if (last && (e.y0 > y || last.x < e.x)) {
        prelast = last;
        last = last.next;
      } else if (i < total) {
        prelast.next = e; // the next edge starts on this scanline
        e.next = last;
        prelast = e;
        e = edges[++i]!;
      } else {
        break;
      }
      if (draw) {
        if (y >= 0) {
          let xa: number;
          let xb: number;
          // Pixels whose centres lie between the crossings: ceil of the left, floor of the right.
          if (keepPrelast.x > prelast.x) {
            xa = Math.floor((prelast.x + XY_ONE - 1) / XY_ONE);
            xb = Math.floor(keepPrelast.x / XY_ONE);
          } else {
            xa = Math.floor((keepPrelast.x + XY_ONE - 1) / XY_ONE);
            xb = Math.floor(prelast.x / XY_ONE);
          }
          if (xa < width && xb >= 0) {
            const from = y * width + Math.max(xa, 0);
            const to = y * width + Math.min(xb, width - 1);
            mask.fill(value, from, to + 1);
          }
        }
        keepPrelast.x += keepPrelast.dx;
        prelast.x += prelast.dx;
      }
      draw = !draw;
    }

    // Keep the active list ordered by x (OpenCV's bubble sort; crossing edges swap here).
    let keep: PolyEdge | null = null;
    for (;;) {
      let pre: PolyEdge = head;
      let cur = head.next;
      let lastExchange: PolyEdge | null = null;
      while (cur && cur !== keep && cur.next) {
        const te: PolyEdge = cur.next;
        if (cur.x > te.x) {
          pre.next = te;
          cur.next = te.next;
          te.next = cur;
          pre = te;
          lastExchange = pre;
        } else {
          pre = cur;
          cur = te;
        }
      }
      if (lastExchange === null) break;
      keep = lastExchange;
      if (keep === head.next || keep === head) break;
    }
  }
}

/**
 * Fill the rings of one annotation (as `cv2.fillPoly(mask, rings, value)`) into `mask`,
 * a row-major width*height array. Vertices must be integers.
 */
export function fillPolygon(mask: Uint8Array, width: number, height: number, rings: readonly Ring[], value = 1): void {
  if (mask.length !== width * height) throw new Error(`mask has ${mask.length} pixels, expected ${width}x${height}`);
  const edges: PolyEdge[] = [];
  for (const ring of rings) {
    if (ring.length > 0) collectEdges(mask, width, height, ring, value, edges);
  }
  fillEdges(mask, width, height, edges, value);
}

/** A new binary mask (0/1) of one annotation. */
export function rasterize(rings: readonly Ring[], width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  fillPolygon(mask, width, height, rings, 1);
  return mask;
}
