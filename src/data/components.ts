/**
 * 8-connected components of a row-major 0/1 mask. Used to keep the largest component of a
 * predicted mask and to split masks into polygons. Union-find over runs (a row's maximal
 * stretches of 1s), not pixels: a run joins every run of the row above that it touches,
 * diagonals included, so the work grows with the number of runs, which for the filled blobs of
 * predicted masks is about their height. Labels equal the per-pixel two-pass labelling's
 * (components-reference.ts; a test compares them on random masks).
 */

/** Each row's runs of 1s, in raster order: run r covers [start[r], end[r]) of row row[r]. */
interface Runs { row: Int32Array; start: Int32Array; end: Int32Array; count: number; rowFirst: Int32Array }

function runsOf(mask: Uint8Array, width: number, height: number): Runs {
  let cap = 64;
  let row = new Int32Array(cap), start = new Int32Array(cap), end = new Int32Array(cap);
  const rowFirst = new Int32Array(height + 1);
  let count = 0;
  for (let y = 0; y < height; y++) {
    rowFirst[y] = count;
    const base = y * width;
    let x = 0;
    while (x < width) {
      while (x < width && !mask[base + x]) x++;
      if (x === width) break;
      const s = x;
      while (x < width && mask[base + x]) x++;
      if (count === cap) {
        cap *= 2;
        const grow = (a: Int32Array) => { const b = new Int32Array(cap); b.set(a); return b; };
        row = grow(row); start = grow(start); end = grow(end);
      }
      row[count] = y; start[count] = s; end[count] = x; count++;
    }
  }
  rowFirst[height] = count;
  return { row, start, end, count, rowFirst };
}

/** Component of each run (1..count, numbered in raster order of first appearance) and each component's area. */
function labelRuns(runs: Runs, height: number): { ofRun: Int32Array; count: number; areas: number[] } {
  const parent = new Int32Array(runs.count);
  for (let r = 0; r < runs.count; r++) parent[r] = r;
  const find = (a: number): number => {
    while (parent[a] !== a) { parent[a] = parent[parent[a]!]!; a = parent[a]!; }
    return a;
  };
  for (let y = 1; y < height; y++) {
    let q = runs.rowFirst[y - 1]!;
    const qEnd = runs.rowFirst[y]!;
    for (let r = runs.rowFirst[y]!; r < runs.rowFirst[y + 1]!; r++) {
      // Runs above that end before this one's left diagonal cannot touch it or any later run.
      while (q < qEnd && runs.end[q]! < runs.start[r]!) q++;
      for (let k = q; k < qEnd && runs.start[k]! <= runs.end[r]!; k++) {
        const a = find(r), b = find(k);
        if (a !== b) { if (a < b) parent[b] = a; else parent[a] = b; }
      }
    }
  }
  const ofRun = new Int32Array(runs.count);
  const idOfRoot = new Int32Array(runs.count);
  const areas: number[] = [];
  for (let r = 0; r < runs.count; r++) {
    const root = find(r);
    if (!idOfRoot[root]) { areas.push(0); idOfRoot[root] = areas.length; }
    ofRun[r] = idOfRoot[root]!;
    areas[ofRun[r]! - 1]! += runs.end[r]! - runs.start[r]!;
  }
  return { ofRun, count: areas.length, areas };
}

export function labelComponents(mask: Uint8Array, width: number, height: number): { labels: Int32Array; count: number; areas: number[] } {
  const runs = runsOf(mask, width, height);
  const { ofRun, count, areas } = labelRuns(runs, height);
  const labels = new Int32Array(width * height);
  for (let r = 0; r < runs.count; r++) labels.fill(ofRun[r]!, runs.row[r]! * width + runs.start[r]!, runs.row[r]! * width + runs.end[r]!);
  return { labels, count, areas };
}

/** The largest 8-connected component (the first in raster order on ties); empty stays empty. */
export function largestComponent(mask: Uint8Array, width: number, height: number): Uint8Array {
  const runs = runsOf(mask, width, height);
  const { ofRun, count, areas } = labelRuns(runs, height);
  const out = new Uint8Array(mask.length);
  if (count === 0) return out;
  const keep = areas.indexOf(Math.max(...areas)) + 1;
  for (let r = 0; r < runs.count; r++) if (ofRun[r] === keep) out.fill(1, runs.row[r]! * width + runs.start[r]!, runs.row[r]! * width + runs.end[r]!);
  return out;
}
