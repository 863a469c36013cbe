import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ringNucleus } from '../../src/synth/render.ts';
import { lattice } from '../../src/synth/noise.ts';

/** Connected components (4-neighbour) of the set pixels of a w x h mask: their pixel lists. */
function components(mask: Uint8Array, w: number, h: number): number[][] {
  const seen = new Uint8Array(mask.length), out: number[][] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    const stack = [start], pixels: number[] = [];
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      pixels.push(p);
      const x = p % w, y = (p - x) / w;
      for (const [xx, yy] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
        const q = yy * w + xx;
        if (xx >= 0 && yy >= 0 && xx < w && yy < h && mask[q] && !seen[q]) { seen[q] = 1; stack.push(q); }
      }
    }
    out.push(pixels);
  }
  return out;
}

test('epithelial nuclei: one ring along the basement membrane, a nucleus per occupied sector, round and nucleus-sized', () => {
  // A round tubule of radius 50 px: a pixel's distance to the interstitium is 50 - r.
  const R = 50, W = 2 * R + 1, sectors = 16; // as paintTubules gives a tubule of this size
  // A tubule with empty sectors (about one sector in ten is).
  const seed = [1, 2, 3, 4, 5, 6, 7, 8].find((s) => Array.from({ length: sectors }, (_, j) => lattice(s, j, 0) < -0.8).some(Boolean))!;
  const mask = new Uint8Array(W * W);
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      const dx = x - R, dy = y - R, m = R - Math.hypot(dx, dy);
      if (m > 0 && ringNucleus(seed, sectors, dx, dy, m) <= 1) mask[y * W + x] = 1;
    }
  }
  const nuclei = components(mask, W, W);
  let occupied = 0;
  for (let j = 0; j < sectors; j++) if (lattice(seed, j, 0) >= -0.8) occupied++;
  assert.ok(occupied >= sectors - 4 && occupied < sectors, `${occupied} of ${sectors} sectors hold a nucleus`);
  assert.equal(nuclei.length, occupied, 'one nucleus per occupied sector, none merged or split');
  for (const pixels of nuclei) {
    // Within 2-26 px of the membrane (the deepest: lifted towards the lumen), 60-160 px of area
    // (real tubular nuclei: 9-13 px across), and round rather than streaked.
    const depth = pixels.map((p) => R - Math.hypot((p % W) - R, Math.floor(p / W) - R));
    assert.ok(Math.min(...depth) >= 2 && Math.max(...depth) <= 26, `nucleus from ${Math.min(...depth).toFixed(1)} to ${Math.max(...depth).toFixed(1)} px inside the membrane`);
    assert.ok(pixels.length >= 60 && pixels.length <= 160, `nucleus of ${pixels.length} px`);
    const xs = pixels.map((p) => p % W), ys = pixels.map((p) => Math.floor(p / W));
    const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) + 1;
    assert.ok(span <= 16, `nucleus ${span} px long`);
  }
});
