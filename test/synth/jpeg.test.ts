import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { appearanceSchema } from '../../src/synth/config.ts';
import { readFileSync } from 'node:fs';
import { CHROMA_Q50, LUMA_Q50, jpegRoundTrip, kernelByte, quantisePlane, scaledTable } from '../../src/synth/jpeg.ts';
import { clampByte, referenceJpegRoundTrip, referenceQuantisePlane } from '../../src/synth/jpeg-reference.ts';
import { Rng } from '../../src/util/random.ts';
import { assembleKernels } from '../../scripts/build-kernels.ts';
import { renderTile } from '../../src/synth/render.ts';
import { wsiStain } from '../../src/synth/stain.ts';
import { WsiWorld } from '../../src/synth/world.ts';

const meanAbs = (a: Uint8Array, b: Uint8Array) => { let d = 0; for (let k = 0; k < a.length; k++) d += Math.abs(a[k]! - b[k]!); return d / a.length; };

/** What libjpeg (through sharp) returns for the image encoded at `quality`, 4:2:0. */
async function libjpeg(rgb: Uint8Array, size: number, quality: number): Promise<Uint8Array> {
  const encoded = await sharp(Buffer.from(rgb), { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
  return new Uint8Array(await sharp(encoded).raw().toBuffer());
}

/** Mean absolute difference across a vertical 8 px block border, over that within blocks. */
function blockBorderRatio(rgb: Uint8Array, size: number): number {
  let border = 0, inner = 0, nb = 0, ni = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size - 1; x++) {
      const p = (y * size + x) * 3, d = Math.abs(rgb[p]! - rgb[p + 3]!);
      if (x % 8 === 7) { border += d; nb++; } else { inner += d; ni++; }
    }
  }
  return (border / nb) / (inner / ni);
}

test('jpegRoundTrip matches libjpeg: a tile through it comes within 1.3 grey levels of libjpeg\'s round trip, far closer than the uncompressed tile or another quality', async () => {
  // A synthetic tile without the generator's own compression: tissue texture, edges, white lumens.
  const appearance = appearanceSchema.parse({ jpegQuality: 0 });
  const tile = renderTile(new WsiWorld(4, 1, appearance), wsiStain(4, 1, 1), appearance, 2048, 1024).image.data;
  for (const quality of [70, 90]) {
    const reference = await libjpeg(tile, 512, quality);
    const ours = meanAbs(jpegRoundTrip(tile, 512, 512, quality), reference);
    const uncompressed = meanAbs(tile, reference);
    const otherQuality = meanAbs(jpegRoundTrip(tile, 512, 512, quality === 70 ? 90 : 70), reference);
    // Measured at 70 / 90: 1.06 / 1.01 grey levels for ours (a float DCT and colour conversion;
    // libjpeg's are integer), against 4.53 / 3.27 uncompressed and 3.83 /
    // 3.85 at the other quality.
    assert.ok(ours < 1.3, `quality ${quality}: ${ours.toFixed(3)} grey levels from libjpeg`);
    assert.ok(ours < 0.4 * uncompressed && ours < 0.4 * otherQuality, `quality ${quality}: ours ${ours.toFixed(3)}, uncompressed ${uncompressed.toFixed(3)}, other quality ${otherQuality.toFixed(3)}`);
  }
  // The trace the real tiles carry: differences across 8 px block borders stand out (measured
  // 1.161 for ours, 1.157 for libjpeg, 1.001 uncompressed; the real tiles: 1.17 in Y).
  const ratio = blockBorderRatio(jpegRoundTrip(tile, 512, 512, 70), 512);
  assert.ok(ratio > 1.05 && Math.abs(ratio - blockBorderRatio(await libjpeg(tile, 512, 70), 512)) < 0.05, `block border ratio ${ratio.toFixed(3)}`);
  assert.ok(Math.abs(blockBorderRatio(tile, 512) - 1) < 0.03, 'the uncompressed tile has no block grid');
  assert.throws(() => jpegRoundTrip(tile, 500, 500, 70), /500x500 is not a multiple of 16/);
});

test('jpeg.wasm is what jpeg.wat assembles to (npm run build:kernels)', async () => {
  const committed = readFileSync(new URL('../../src/synth/jpeg.wasm', import.meta.url));
  assert.deepEqual(new Uint8Array(committed), await assembleKernels('src/synth/jpeg'));
});

test('the SIMD JPEG blocks give the bits of their plain-loop definition: planes of noise, of flat and sharp blocks, of values on the quantiser\'s ties, at several qualities', () => {
  const rng = new Rng(11);
  const w = 64, h = 48;
  const planes: Float64Array[] = [
    Float64Array.from({ length: w * h }, () => rng.uniform(0, 255)),
    Float64Array.from({ length: w * h }, (_, p) => ((p % w) >> 3) % 2 ? 250 : 3), // sharp block edges
    new Float64Array(w * h).fill(128), // flat: every coefficient zero but the DC
    Float64Array.from({ length: w * h }, () => Math.round(rng.uniform(0, 255))),
  ];
  // Flat blocks whose DC coefficient, as the sums round, is exactly half a step at quality 50
  // (luma step 16): 145 gives 8.5 and 41 gives -43.5 steps, which Math.round takes up (9, -43)
  // where rounding to even would not (8, -44).
  planes.push(new Float64Array(w * h).fill(145), new Float64Array(w * h).fill(41));
  for (const quality of [10, 50, 70, 95]) {
    for (const table of [scaledTable(LUMA_Q50, quality), scaledTable(CHROMA_Q50, quality)]) {
      for (const plane of planes) {
        const simd = plane.slice(), plain = plane.slice();
        quantisePlane(simd, w, h, table);
        referenceQuantisePlane(plain, w, h, table);
        assert.deepEqual(new Uint8Array(simd.buffer), new Uint8Array(plain.buffer), `quality ${quality}`);
      }
    }
  }
  // The ties rounded up: 9 and -43 steps of 16 / 8 grey levels from 128.
  for (const [value, steps] of [[145, 9], [41, -43]] as const) {
    const plane = new Float64Array(w * h).fill(value);
    quantisePlane(plane, w, h, scaledTable(LUMA_Q50, 50));
    assert.ok(Math.abs(plane[0]! - (128 + steps * 2)) < 1e-9, `${value}: ${plane[0]}`);
  }
});

test('jpegRoundTrip gives the bytes of its plain-loop definition: a rendered tile, noise, saturated colours, a non-square image, at several qualities', () => {
  const appearance = appearanceSchema.parse({});
  const world = new WsiWorld(2, 1, appearance), stain = wsiStain(2, 1, 1);
  const tile = renderTile(world, stain, appearance, 512, 512).image.data;
  const rng = new Rng(5);
  const noise = Uint8Array.from({ length: 48 * 32 * 3 }, () => rng.int(0, 255));
  // Pure reds, greens, blues, black and white in 2 px stripes: the colour conversion's clamps at 0 and 255.
  const saturated = Uint8Array.from({ length: 64 * 64 * 3 }, (_, k) => [[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0], [255, 255, 255]][((k / 3 | 0) >> 1) % 5]![k % 3]!);
  for (const [rgb, w, h] of [[tile, 512, 512], [noise, 48, 32], [saturated, 64, 64]] as const) {
    for (const quality of [5, 70, 100]) {
      assert.deepEqual(jpegRoundTrip(rgb, w, h, quality), referenceJpegRoundTrip(rgb, w, h, quality), `${w} x ${h}, quality ${quality}`);
    }
  }
});

test('the kernel rounds a colour into a byte as Math.round does, ties up, and clamps to 0..255', () => {
  const values = [-1e9, -0.5, -0.49, -0, 0, 0.49999999999999994, 0.5, 1.5, 2.5, 3.5, 127.5, 128.49999999999997, 253.5, 254.5, 254.50000000000003, 255, 255.4, 255.5, 1e9];
  for (let k = 0; k < 2000; k++) values.push(k / 8 - 10); // every eighth from -10 to 240: the ties at .5 among them
  // Compared as the bytes both end up as (Math.round gives -0 for -0.49; a byte is 0).
  for (const v of values) assert.equal(kernelByte(v), Uint8Array.of(clampByte(v))[0], `${v}`);
});
