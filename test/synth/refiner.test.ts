import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assembleKernels } from '../../scripts/build-kernels.ts';
import { checkRefiner, refineTile, shippedRefiner, type RefinerLayer } from '../../src/synth/refiner.ts';
import { referenceRefine } from '../../src/synth/refiner-reference.ts';
import { Rng } from '../../src/util/random.ts';

test('refiner.wasm is what refiner.wat assembles to (npm run build:kernels)', async () => {
  const committed = readFileSync(new URL('../../src/synth/refiner.wasm', import.meta.url));
  assert.deepEqual(new Uint8Array(committed), await assembleKernels('src/synth/refiner'));
});

/** A tile with edges, flat patches and noise: every branch of the clamp and the rounding. */
function tile(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: width * height * 3 }, (_, k) => {
    const p = Math.floor(k / 3), x = p % width, y = Math.floor(p / width);
    if (x < 3 && y < 3) return 255; // a saturated corner: the clamp at 255
    if (x > width - 4 && y > height - 4) return 0;
    return (x * 37 + y * 11 + (k % 3) * 60 + rng.int(0, 40)) & 255;
  });
}

test('the SIMD refiner gives the bytes of its plain-loop definition: the shipped weights and large random ones, even and odd heights', () => {
  const rng = new Rng(3);
  // Random weights ten times the shipped scale, so that the ReLUs cut and the output clamps.
  const loud: RefinerLayer[] = shippedRefiner().map((l) => ({ shape: l.shape, w: l.w.map(() => rng.normal() * 0.5), b: l.b.map(() => rng.normal() * 0.1) }));
  for (const layers of [shippedRefiner(), loud]) {
    for (const [w, h] of [[2, 1], [12, 9], [34, 20]] as const) {
      const rgb = tile(w, h, w * h);
      assert.deepEqual(refineTile(rgb, w, h, layers), referenceRefine(rgb, w, h, layers), `${w} x ${h}`);
    }
  }
});

test('the shipped refiner changes a tile by a few grey levels, locally: a pixel 4 px from a change does not move', () => {
  const w = 64, h = 48, rgb = tile(w, h, 9);
  const out = refineTile(rgb, w, h);
  let change = 0;
  for (let k = 0; k < rgb.length; k++) change += Math.abs(out[k]! - rgb[k]!);
  const mean = change / rgb.length;
  assert.ok(mean > 0.5 && mean < 12, `mean change ${mean.toFixed(2)} grey levels`);
  // One pixel changed: only pixels within 3 px of it may differ.
  const poked = rgb.slice();
  const at = (20 * w + 30) * 3;
  poked[at] = 255 - poked[at]!;
  const again = refineTile(poked, w, h);
  let near = 0;
  for (let p = 0; p < w * h; p++) {
    const dx = Math.abs((p % w) - 30), dy = Math.abs(Math.floor(p / w) - 20);
    const moved = [0, 1, 2].some((c) => again[p * 3 + c] !== out[p * 3 + c]);
    if (dx > 3 || dy > 3) assert.ok(!moved, `pixel (${p % w}, ${Math.floor(p / w)}) moved`);
    else if (moved) near++;
  }
  assert.ok(near > 0, 'the poked pixel\'s neighbourhood moved');
});

test('a refiner of the wrong shape or with non-finite weights is refused, naming the layer', () => {
  const good = shippedRefiner();
  assert.throws(() => checkRefiner(good.slice(0, 3), 'r.json'), /r\.json: layers 3x3x3x16, 3x3x16x16, 3x3x16x16; the refiner takes/);
  const bad = good.map((l, k) => (k === 2 ? { ...l, w: [...l.w.slice(1), Number.NaN] } : l));
  assert.throws(() => checkRefiner(bad, 'r.json'), /r\.json: layer 3 needs 2304 finite weights/);
  assert.throws(() => refineTile(new Uint8Array(3 * 3 * 3), 3, 3), /width must be even/);
});
