import { test } from 'node:test';
import assert from 'node:assert/strict';
import { glassMask } from '../../src/synth/glass.ts';

/** A 128 x 128 RGB image: glass (218, 208, 220) left of column 64, pink tissue (180, 110, 190) right of it, with `paint` drawn on top. */
function slide(paint: (x: number, y: number) => [number, number, number] | null = () => null): Uint8Array {
  const w = 128, img = new Uint8Array(w * w * 3);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const rgb = paint(x, y) ?? (x < 64 ? [218, 208, 220] : [180, 110, 190]);
      img.set(rgb, (y * w + x) * 3);
    }
  }
  return img;
}

const count = (m: Uint8Array, where: (x: number, y: number) => boolean) => {
  let n = 0;
  for (let p = 0; p < m.length; p++) if (m[p] && where(p % 128, Math.floor(p / 128))) n++;
  return n;
};

test('glass: bright unsaturated pixels whose 33 px square is glass too; the tissue and the glass\'s last 15 px beside it are not', () => {
  const m = glassMask(slide(), 128, 128);
  // Under 5% of the square may be tissue: one column of 33 (x = 48), not two (x = 49).
  assert.equal(count(m, (x) => x >= 64), 0, 'no tissue pixel');
  assert.equal(count(m, (x) => x <= 48), 49 * 128, 'every glass pixel 16 px or more from the tissue');
  assert.equal(count(m, (x) => x > 48 && x < 64), 0, 'none of the last 15 px before the tissue');
});

test('glass: a white lumen inside tissue is not glass, a white lumen wider than 33 px is; bright pink is not glass', () => {
  const lumen = (r: number) => glassMask(slide((x, y) => ((x - 96) ** 2 + (y - 64) ** 2 < r * r ? [225, 215, 228] : null)), 128, 128);
  assert.equal(count(lumen(10), (x) => x >= 64), 0, 'a 20 px lumen');
  assert.ok(count(lumen(30), (x) => x >= 64) > 0, 'a 60 px lumen has a core of glass-like pixels');
  const pink = glassMask(slide((x) => (x < 64 ? [230, 170, 225] : null)), 128, 128);
  assert.equal(count(pink, () => true), 0, 'bright but saturated');
  const dim = glassMask(slide((x) => (x < 64 ? [190, 185, 190] : null)), 128, 128);
  assert.equal(count(dim, () => true), 0, 'unsaturated but dim');
});
