/**
 * The reference 8-connected labelling: two-pass union-find over pixels, as the production code
 * (src/data/components.ts, union-find over runs) did until 2026-12-04; the tests and
 * bench:components compare the two.
 */
export function labelComponents(mask: Uint8Array, width: number, height: number): { labels: Int32Array; count: number; areas: number[] } {
  const labels = new Int32Array(width * height);
  const parent: number[] = [0];
  const find = (a: number): number => {
    while (parent[a] !== a) {
      parent[a] = parent[parent[a]!]!;
      a = parent[a]!;
    }
    return a;
  };
  const union = (a: number, b: number): number => {
    const ra = find(a), rb = find(b);
    if (ra === rb) return ra;
    const [lo, hi] = ra < rb ? [ra, rb] : [rb, ra];
    parent[hi] = lo;
    return lo;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (!mask[p]) continue;
      let label = 0;
      // Neighbours already visited: W, NW, N, NE.
      const neighbours = [
        x > 0 ? p - 1 : -1,
        x > 0 && y > 0 ? p - width - 1 : -1,
        y > 0 ? p - width : -1,
        x < width - 1 && y > 0 ? p - width + 1 : -1,
      ];
      for (const q of neighbours) {
        if (q < 0 || !labels[q]) continue;
        label = label ? union(label, labels[q]!) : labels[q]!;
      }
      if (!label) {
        label = parent.length;
        parent.push(label);
      }
      labels[p] = label;
    }
  }
  // Second pass: compact root labels to 1..count in raster order of first appearance.
  const compact = new Map<number, number>();
  const areas: number[] = [];
  for (let p = 0; p < labels.length; p++) {
    if (!labels[p]) continue;
    const root = find(labels[p]!);
    let id = compact.get(root);
    if (id === undefined) {
      id = compact.size + 1;
      compact.set(root, id);
      areas.push(0);
    }
    labels[p] = id;
    areas[id - 1]!++;
  }
  return { labels, count: compact.size, areas };
}

/** The largest 8-connected component (the first in raster order on ties); empty stays empty. */
export function largestComponent(mask: Uint8Array, width: number, height: number): Uint8Array {
  const { labels, count, areas } = labelComponents(mask, width, height);
  const out = new Uint8Array(mask.length);
  if (count === 0) return out;
  const keep = areas.indexOf(Math.max(...areas)) + 1;
  for (let p = 0; p < labels.length; p++) if (labels[p] === keep) out[p] = 1;
  return out;
}
