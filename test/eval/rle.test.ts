import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { decodeRle, encodeMask, encodeWindow, rleArea, rleBbox, rleFromString, rleIou, rleToString } from '../../src/eval/rle.ts';
import { decodeMaskString, encodeMaskString } from '../../src/eval/submission.ts';
import { mulberry32 } from '../../src/util/stats.ts';

/** Row-major mask from rows of '0'/'1'. */
function maskOf(rows: string[]): { mask: Uint8Array; width: number; height: number } {
  const height = rows.length;
  const width = rows[0]!.length;
  const mask = new Uint8Array(width * height);
  rows.forEach((r, y) => [...r].forEach((c, x) => { mask[y * width + x] = c === '1' ? 1 : 0; }));
  return { mask, width, height };
}

test('runs are column-major and start with the background run', () => {
  // Columns top to bottom: col0 = 0,1,1  col1 = 1,0,0  col2 = 0,0,1
  const { mask, width, height } = maskOf(['010', '100', '101']);
  const rle = encodeMask(mask, width, height);
  assert.deepEqual(Array.from(rle.counts), [1, 3, 4, 1]);
  assert.deepEqual(decodeRle(rle), mask);
  // A mask whose first pixel is set starts with an empty background run.
  assert.deepEqual(Array.from(encodeMask(maskOf(['11', '00']).mask, 2, 2).counts), [0, 1, 1, 1, 1]);
  assert.equal(rleArea(rle), 4);
  assert.deepEqual(rleBbox(rle), [0, 0, 3, 3]);
  assert.deepEqual(rleBbox(encodeMask(maskOf(['000', '010', '000']).mask, 3, 3)), [1, 1, 1, 1]);
  assert.deepEqual(rleBbox(encodeMask(new Uint8Array(9), 3, 3)), [0, 0, 0, 0]);
});

test("compressed string: the competition sample submission's mask", () => {
  const encoded = 'eNoLTDAwyrM3yI/PMwcAE94DZA==';
  assert.equal(inflateSync(Buffer.from(encoded, 'base64')).toString('latin1'), 'Q`02n?0o_n7');
  const rle = decodeMaskString(encoded, 512, 512);
  assert.equal(rleToString(rle.counts), 'Q`02n?0o_n7');
  // The string decodes to runs covering the whole 512x512 tile, and back to the same bytes.
  assert.equal(rle.counts.reduce((s, c) => s + c, 0), 512 * 512);
  assert.equal(encodeMaskString(rle), encoded);
});

test('compressed string: hand-computed pycocotools encodings', () => {
  // 3 -> '3'; 0 -> '0'; runs after the second are stored as differences from two back.
  assert.equal(rleToString([3]), '3');
  assert.equal(rleToString([0, 1]), '01');
  // 40 = 0b01000 + 1*32: low 5 bits 8 with the continuation bit (8 | 32) + 48 = 'X', then 1 + 48 = '1'.
  assert.equal(rleToString([40]), 'X1');
  // Negative deltas: counts [5, 2, 3, 1]: 5, 2, 3, then 1 - 2 = -1 -> 0x1f + 48 = 'O'.
  assert.equal(rleToString([5, 2, 3, 1]), '523O');
  assert.deepEqual(Array.from(rleFromString('523O', 11, 1).counts), [5, 2, 3, 1]);
});

test('random masks: encode/decode and string round trips, IoU on runs equals IoU on pixels', () => {
  const random = mulberry32(42);
  for (let trial = 0; trial < 50; trial++) {
    const width = 1 + Math.floor(random() * 70);
    const height = 1 + Math.floor(random() * 70);
    const density = random();
    const a = new Uint8Array(width * height).map(() => (random() < density ? 1 : 0));
    const b = new Uint8Array(width * height).map(() => (random() < 0.5 ? 1 : 0));
    const ra = encodeMask(a, width, height);
    const rb = encodeMask(b, width, height);
    assert.deepEqual(decodeRle(ra), a);
    assert.deepEqual(rleFromString(rleToString(ra.counts), height, width).counts, ra.counts);
    assert.deepEqual(decodeMaskString(encodeMaskString(rb), height, width).counts, rb.counts);
    let inter = 0, union = 0;
    for (let p = 0; p < a.length; p++) { inter += a[p]! & b[p]!; union += a[p]! | b[p]!; }
    assert.equal(rleIou(ra, rb), union === 0 ? 0 : inter / union);
  }
});

test('decoding rejects corrupt masks with a reason', () => {
  assert.throws(() => decodeMaskString('not base64!', 512, 512), /not base64/);
  assert.throws(() => decodeMaskString(Buffer.from('hello').toString('base64'), 512, 512), /not zlib data/);
  assert.throws(() => decodeMaskString('eNoLTDAwyrM3yI/PMwcAE94DZA==', 256, 256), /cover 262144 pixels, expected 256x256/);
  assert.throws(() => rleFromString('3 ', 1, 3), /invalid character/);
});

test('encodeWindow equals encodeMask of the full mask, windows at every edge included', () => {
  let seed = 11;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const [width, height] = [13, 9];
  const windows = [[0, 0, 13, 9], [0, 0, 1, 1], [12, 8, 1, 1], [3, 0, 4, 9], [0, 2, 13, 3], [5, 4, 8, 5], [2, 3, 0, 4]];
  for (const [x0, y0, w, h] of windows) {
    for (let trial = 0; trial < 20; trial++) {
      const density = trial % 4 === 0 ? 1 : random();
      const win = new Uint8Array(w! * h!).map(() => (random() < density ? 1 : 0));
      const full = new Uint8Array(width * height);
      for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) full[(y0! + y) * width + x0! + x] = win[y * w! + x]!;
      assert.deepEqual(encodeWindow(win, x0!, y0!, w!, h!, width, height), encodeMask(full, width, height), `window ${[x0, y0, w, h]} trial ${trial}`);
    }
  }
  assert.throws(() => encodeWindow(new Uint8Array(4), 12, 0, 2, 2, width, height), /outside the 13x9 image/);
});
