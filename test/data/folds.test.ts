import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { IssueCollector } from '../../src/data/errors.ts';
import { parseTileMeta } from '../../src/data/csv.ts';
import { formatFolds, makeFolds, parseFolds } from '../../src/data/folds.ts';

const realTiles = parseTileMeta(readFileSync(new URL('../../assets/reference/tile_meta.csv', import.meta.url), 'utf8'), 'tile_meta.csv', new IssueCollector(true));
const dataset1 = realTiles.filter((t) => t.dataset === 1);

test('folds of real dataset 1 (2 WSIs, k=5) are contiguous bands of grid rows within each WSI', () => {
  const folds = makeFolds(dataset1, { k: 5, seed: 1 });
  assert.equal(folds.size, 422);
  const sizes = new Array(5).fill(0);
  for (const f of folds.values()) sizes[f]++;
  for (const s of sizes) assert.ok(s >= 60 && s <= 110, `fold sizes ${sizes}`);
  for (const wsi of [1, 2]) {
    const tiles = dataset1.filter((t) => t.sourceWsi === wsi);
    // Each fold's rows form one interval of i that no other fold's rows enter.
    const ranges = new Map<number, [number, number]>();
    for (const t of tiles) {
      const f = folds.get(t.id)!;
      const r = ranges.get(f) ?? [Infinity, -Infinity];
      ranges.set(f, [Math.min(r[0], t.i), Math.max(r[1], t.i)]);
    }
    for (const t of tiles) {
      for (const [f, [lo, hi]] of ranges) {
        if (f !== folds.get(t.id)) assert.ok(t.i < lo || t.i > hi, `WSI ${wsi}: tile row ${t.i} of fold ${folds.get(t.id)} lies inside fold ${f}'s band ${lo}-${hi}`);
      }
    }
  }
});

test('with enough WSIs, folds hold whole WSIs', () => {
  const ds3 = realTiles.filter((t) => t.dataset === 3); // WSIs 6-14
  const folds = makeFolds(ds3, { k: 3, seed: 7 });
  const foldOfWsi = new Map<number, number>();
  for (const t of ds3) {
    const f = folds.get(t.id)!;
    assert.equal(foldOfWsi.get(t.sourceWsi) ?? f, f, `WSI ${t.sourceWsi} split across folds`);
    foldOfWsi.set(t.sourceWsi, f);
  }
  const sizes = [0, 0, 0];
  for (const f of folds.values()) sizes[f]!++;
  assert.deepEqual(sizes, [1800, 1800, 1800]);
  assert.throws(() => makeFolds(dataset1, { k: 5, strategy: 'wsi' }), /need at least 5 WSIs, these tiles come from 2/);
});

test('folds are deterministic for a seed and differ across seeds', () => {
  const a = formatFolds(makeFolds(dataset1, { k: 5, seed: 3 }));
  assert.equal(formatFolds(makeFolds(dataset1, { k: 5, seed: 3 })), a);
  assert.notEqual(formatFolds(makeFolds(dataset1, { k: 5, seed: 4 })), a);
});

test('folds.csv round trip, and unknown ids are reported', () => {
  const folds = makeFolds(dataset1, { k: 5, seed: 0 });
  const text = formatFolds(folds);
  assert.ok(text.startsWith('id,fold\n'));
  const known = new Set(dataset1.map((t) => t.id));
  assert.deepEqual(parseFolds(text, 'folds.csv', known, new IssueCollector(true)), folds);
  assert.throws(() => parseFolds('id,fold\nzzzz,1\n', 'folds.csv', known, new IssueCollector(true)), /folds.csv: line 2: tile zzzz: fold given for a tile that is not in the dataset/);
});
