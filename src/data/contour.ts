import { labelComponents } from './components.ts';
import type { Point } from './rasterize.ts';

// 8 directions, clockwise on screen (y grows downwards), starting east.
const DX = [1, 1, 0, -1, -1, -1, 0, 1];
const DY = [0, 1, 1, 1, 0, -1, -1, -1];

/**
 * Outer boundary of one 8-connected component, through the centres of its boundary pixels
 * (Moore-neighbour tracing, stopping when the start pixel is left as it was left first; the contour `cv2.findContours`
 * returns with CHAIN_APPROX_NONE). `start` must be the component's first pixel in raster order.
 * Filling the result with `fillPolygon` gives back the component with its holes filled.
 */
export function traceBoundary(isSet: (x: number, y: number) => boolean, startX: number, startY: number): Point[] {
  const contour: Point[] = [[startX, startY]];
  let x = startX, y = startY;
  let back = 4; // we "came from" the west: nothing lies left of or above the first pixel
  for (;;) {
    let found = -1;
    for (let k = 1; k <= 8; k++) {
      const d = (back + k) % 8;
      if (isSet(x + DX[d]!, y + DY[d]!)) {
        found = d;
        break;
      }
    }
    if (found < 0) return contour; // a single pixel
    const nx = x + DX[found]!, ny = y + DY[found]!;
    // Done when the start pixel is about to be left the way it was left first.
    if (contour.length > 2 && x === startX && y === startY && nx === contour[1]![0] && ny === contour[1]![1]) {
      contour.pop();
      return contour;
    }
    // The neighbour examined just before the one found is background: it becomes the backtrack.
    const prev = (found + 7) % 8;
    const bx = x + DX[prev]!, by = y + DY[prev]!;
    x = nx;
    y = ny;
    back = DX.findIndex((dx, d) => dx === bx - x && DY[d] === by - y);
    contour.push([x, y]);
    if (contour.length > 1 << 22) throw new Error('boundary tracing did not close (a bug): please report the mask');
  }
}

/** One ring per 8-connected component of a row-major 0/1 mask, largest first. */
export function maskToRings(mask: Uint8Array, width: number, height: number): Point[][] {
  return maskComponents(mask, width, height).map((c) => c.ring);
}

/** The 8-connected components of a mask as traced rings with their pixel areas, largest first. */
export function maskComponents(mask: Uint8Array, width: number, height: number): { ring: Point[]; area: number }[] {
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
  return rings.sort((a, b) => b.area - a.area);
}
