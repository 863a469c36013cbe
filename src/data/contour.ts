import { labelComponents } from './components.ts';
import type { Point } from './rasterize.ts';

// 8 directions, clockwise on screen (y grows downwards), starting east.
const DX = [1, 1, 0, -1, -1, -1, 0, 1];
const DY = [0, 1, 1, 1, 0, -1, -1, -1];

/**
 * Outer boundary of one 8-connected component, through the centres of its boundary pixels
 * (Moore-neighbour tracing with Jacob's stopping rule; the contour `cv2.findContours`
 * returns with CHAIN_APPROX_NONE). `start` must be the component's first pixel in raster order.
 * Filling the result with `fillPolygon` gives back the component with its holes filled.
 */
export function traceBoundary(isSet: (x: number, y: number) => boolean, startX: number, startY: number): Point[] {
  const contour: Point[] = [[startX, startY]];
  let x = startX, y = startY;
  let back = 4; // we "came from" the west: nothing lies left of or above the first pixel
  const startBack = back;
  for (let steps = 0; ; steps++) {
    let found = -1;
    for (let k = 1; k <= 8; k++) {
      const d = (back + k) % 8;
      if (isSet(x + DX[d]!, y + DY[d]!)) {
        found = d;
        break;
      }
    }
    if (found < 0) return contour; // a single pixel
    // The neighbour examined just before the one found is background: it becomes the backtrack.
    const prev = (found + 7) % 8;
    const bx = x + DX[prev]!, by = y + DY[prev]!;
    x += DX[found]!;
    y += DY[found]!;
    back = DX.findIndex((dx, d) => dx === bx - x && DY[d] === by - y);
    if (x === startX && y === startY && back === startBack) return contour;
    if (x === startX && y === startY && steps > 4 * 1024 * 1024) return contour; // safety bound
    contour.push([x, y]);
  }
}

/** One ring per 8-connected component of a row-major 0/1 mask, largest first. */
export function maskToRings(mask: Uint8Array, width: number, height: number): Point[][] {
  const { labels, count, areas } = labelComponents(mask, width, height);
  const starts: [number, number][] = new Array(count);
  for (let p = 0; p < labels.length && starts.filter(Boolean).length < count; p++) {
    const l = labels[p]!;
    if (l && !starts[l - 1]) starts[l - 1] = [p % width, Math.floor(p / width)];
  }
  const rings = starts.map(([sx, sy], k) => {
    const label = k + 1;
    const isSet = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && labels[y * width + x] === label;
    return { ring: traceBoundary(isSet, sx, sy), area: areas[k]! };
  });
  return rings.sort((a, b) => b.area - a.area).map((r) => r.ring);
}
