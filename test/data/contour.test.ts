import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { maskToRings } from '../../src/data/contour.ts';
import { labelComponents, largestComponent } from '../../src/data/components.ts';
import { rasterize, type Ring } from '../../src/data/rasterize.ts';
import { mulberry32 } from '../../src/util/stats.ts';
import * as reference from '../../src/data/components-reference.ts';

test('components: 8-connectivity joins diagonal neighbours; largest component kept', () => {
  const w = 6, h = 4;
  const rows = ['110000', '001000', '000011', '100011'];
  const mask = new Uint8Array(rows.join('').split('').map(Number));
  const { count, areas } = labelComponents(mask, w, h);
  assert.equal(count, 3);
  assert.deepEqual(areas, [3, 4, 1]);
  assert.deepEqual(Array.from(largestComponent(mask, w, h)).join(''), '000000' + '000000' + '000011' + '000011');
});

/** Each pixel set where at least 5 of its 3 x 3 neighbourhood are (edges clamped): speckle smoothed into blobs. */
function majority(mask: Uint8Array, w: number, h: number): Uint8Array {
  const at = (x: number, y: number) => mask[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))]!;
  return mask.map((_, p) => {
    const x = p % w, y = (p - x) / w;
    let n = 0;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) n += at(x + dx, y + dy);
    return n >= 5 ? 1 : 0;
  });
}

test('components over runs label every mask as the per-pixel two-pass labelling does', () => {
  const random = mulberry32(11);
  let shapes = 0;
  for (let trial = 0; trial < 300; trial++) {
    const w = 1 + Math.floor(random() * 60), h = 1 + Math.floor(random() * 40);
    // Speckle from sparse to nearly full, and smoothed blobs: many runs and few.
    const density = random();
    let mask: Uint8Array = new Uint8Array(w * h).map(() => (random() < density ? 1 : 0));
    if (trial % 2) mask = majority(mask, w, h);
    const ours = labelComponents(mask, w, h), theirs = reference.labelComponents(mask, w, h);
    assert.equal(ours.count, theirs.count, `trial ${trial}`);
    assert.deepEqual(ours.areas, theirs.areas, `trial ${trial}`);
    assert.deepEqual(ours.labels, theirs.labels, `trial ${trial}`);
    assert.deepEqual(largestComponent(mask, w, h), reference.largestComponent(mask, w, h), `trial ${trial}`);
    shapes += ours.count;
  }
  assert.ok(shapes > 1000, `${shapes} components`);
});

test('traced rings filled with fillPoly give back the real vessels exactly', () => {
  const lines = readFileSync(new URL('../../assets/reference/dataset1_vessels_85tiles.jsonl', import.meta.url), 'utf8').trim().split('\n');
  let checked = 0;
  for (const line of lines.slice(0, 30)) {
    const tile = JSON.parse(line) as { annotations: { coordinates: Ring[] }[] };
    for (const a of tile.annotations) {
      const mask = rasterize(a.coordinates, 512, 512);
      const rings = maskToRings(mask, 512, 512);
      const back = rasterize(rings.slice(0, 1), 512, 512);
      if (labelComponents(mask, 512, 512).count === 1) {
        assert.deepEqual(back, mask);
        checked++;
      }
    }
  }
  assert.ok(checked > 200, `checked ${checked}`);
});

test('random blobs: rings of every component fill back to the mask (holes filled)', () => {
  const random = mulberry32(5);
  const w = 40, h = 30;
  for (let trial = 0; trial < 200; trial++) {
    // Union of a few random discs: shapes with necks, one-pixel spurs and several components.
    const mask = new Uint8Array(w * h);
    for (let d = 0; d < 1 + Math.floor(random() * 4); d++) {
      const cx = random() * w, cy = random() * h, r = 0.5 + random() * 6;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) mask[y * w + x] = 1;
    }
    const rings = maskToRings(mask, w, h);
    const back = new Uint8Array(w * h);
    for (const ring of rings) rasterize([ring], w, h).forEach((v, p) => { if (v) back[p] = 1; });
    // Union of discs has no holes, except rarely where discs enclose background: compare outside those.
    const filled = largestHoleFree(mask, w, h);
    assert.deepEqual(back, filled, `trial ${trial}`);
  }
});

/** The mask with enclosed background (not 4-connected to the border) filled. */
function largestHoleFree(mask: Uint8Array, w: number, h: number): Uint8Array {
  const outside = new Uint8Array(w * h);
  const stack: number[] = [];
  for (let x = 0; x < w; x++) stack.push(x, (h - 1) * w + x);
  for (let y = 0; y < h; y++) stack.push(y * w, y * w + w - 1);
  while (stack.length) {
    const p = stack.pop()!;
    if (outside[p] || mask[p]) continue;
    outside[p] = 1;
    const x = p % w, y = (p - x) / w;
    if (x > 0) stack.push(p - 1);
    if (x < w - 1) stack.push(p + 1);
    if (y > 0) stack.push(p - w);
    if (y < h - 1) stack.push(p + w);
  }
  return outside.map((v) => 1 - v);
}
