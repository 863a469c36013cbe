import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir, rm, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadDataset, readTileImage, writeDatasetFiles } from '../../src/data/dataset.ts';
import { checkDataset } from '../../src/data/check.ts';
import { DatasetError } from '../../src/data/errors.ts';
import { tempDir } from '../helpers/tmp.ts';
import { writeSmallDataset, flatImage } from '../helpers/dataset.ts';
import { cp } from 'node:fs/promises';

async function freshDataset(): Promise<string> {
  const dir = await tempDir();
  await writeSmallDataset(dir);
  return dir;
}

/** Expect loadDataset to fail with one error whose text mentions every fragment. */
async function expectLoadError(dir: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(loadDataset(dir), (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected a DatasetError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `error "${err.message}" should mention "${f}"`);
    return true;
  });
}

test('write then read the Kaggle layout: metadata, labels, images', async () => {
  const dir = await freshDataset();
  const ds = await loadDataset(dir);
  assert.equal(ds.tiles.length, 4);
  assert.deepEqual(ds.tileById.get('bbbbbbbbbbb1'), { id: 'bbbbbbbbbbb1', sourceWsi: 2, dataset: 2, i: 1024, j: 512 });
  assert.equal(ds.labels.size, 3);
  assert.equal(ds.labels.get('aaaaaaaaaaa1')!.length, 3);
  assert.equal(ds.duplicatesDropped, 1, 'the repeated square on bbbbbbbbbbb1 is dropped');
  assert.equal(ds.labels.get('bbbbbbbbbbb1')!.length, 2);
  assert.equal(ds.wsis.length, 2);
  assert.equal(ds.wsis[0]!.fields.age, '58');
  const img = await readTileImage(ds, 'aaaaaaaaaaa1');
  assert.equal(img.width, 512);
  assert.deepEqual(Array.from(img.data.subarray(0, 3)), [200, 120, 180], 'TIFF round trip is lossless');
});

test('zero-padded numbers in tile_meta.csv are accepted', async () => {
  const dir = await freshDataset();
  await writeFile(join(dir, 'tile_meta.csv'), 'id,source_wsi,dataset,i,j\naaaaaaaaaaa1,01,001,00512,0000\n');
  await rm(join(dir, 'polygons.jsonl'));
  const ds = await loadDataset(dir);
  assert.deepEqual(ds.tiles[0], { id: 'aaaaaaaaaaa1', sourceWsi: 1, dataset: 1, i: 512, j: 0 });
});

test('the real tile_meta.csv (7,033 tiles) parses', async () => {
  const dir = await tempDir();
  await cp(new URL('../../assets/reference/tile_meta.csv', import.meta.url), join(dir, 'tile_meta.csv'));
  const ds = await loadDataset(dir);
  assert.equal(ds.tiles.length, 7033);
  assert.equal(ds.tiles.filter((t) => t.dataset === 1).length, 422);
  assert.equal(ds.tiles.filter((t) => t.dataset === 3).length, 5400);
});

test('bad input: malformed JSONL line names file and line', async () => {
  const dir = await freshDataset();
  await appendFile(join(dir, 'polygons.jsonl'), '{"id": "ccccccccccc1", "annotations": [\n');
  await expectLoadError(dir, 'polygons.jsonl', 'line 4', 'not valid JSON');
});

test('bad input: unknown annotation type', async () => {
  const dir = await freshDataset();
  const text = (await readFile(join(dir, 'polygons.jsonl'), 'utf8')).replace('"unsure"', '"capillary"');
  await writeFile(join(dir, 'polygons.jsonl'), text);
  await expectLoadError(dir, 'polygons.jsonl', 'line 2', 'aaaaaaaaaaa2', 'unknown type "capillary"');
});

test('bad input: polygon with fewer than 3 points', async () => {
  const dir = await freshDataset();
  await appendFile(join(dir, 'polygons.jsonl'), JSON.stringify({ id: 'ccccccccccc1', annotations: [{ type: 'blood_vessel', coordinates: [[[1, 1], [5, 5]]] }] }) + '\n');
  await expectLoadError(dir, 'line 4', 'ccccccccccc1', 'at least 3 points');
});

test('bad input: polygon outside the tile', async () => {
  const dir = await freshDataset();
  await appendFile(join(dir, 'polygons.jsonl'), JSON.stringify({ id: 'ccccccccccc1', annotations: [{ type: 'glomerulus', coordinates: [[[1, 1], [600, 5], [5, 9]]] }] }) + '\n');
  await expectLoadError(dir, 'line 4', 'ccccccccccc1', '[600, 5]', 'outside the 512x512 tile');
});

test('bad input: labelled tile id with no image', async () => {
  const dir = await freshDataset();
  await rm(join(dir, 'train', 'aaaaaaaaaaa2.tif'));
  await expectLoadError(dir, 'aaaaaaaaaaa2', 'has no image');
});

test('bad input: image of the wrong size or channels', async () => {
  const dir = await freshDataset();
  await sharp({ create: { width: 256, height: 512, channels: 3, background: '#ff00ff' } }).tiff().toFile(join(dir, 'train', 'aaaaaaaaaaa1.tif'));
  // Grey (one channel) and RGBA, as PNG content under .tif names: decoding goes by content.
  await writeFile(join(dir, 'train', 'aaaaaaaaaaa2.tif'), await sharp(Buffer.alloc(512 * 512, 128), { raw: { width: 512, height: 512, channels: 1 } }).toColourspace('b-w').png().toBuffer());
  await writeFile(join(dir, 'train', 'bbbbbbbbbbb1.tif'), await sharp(Buffer.alloc(512 * 512 * 4, 128), { raw: { width: 512, height: 512, channels: 4 } }).png().toBuffer());
  const ds = await loadDataset(dir);
  await assert.rejects(readTileImage(ds, 'aaaaaaaaaaa1'), /aaaaaaaaaaa1\.tif: tile aaaaaaaaaaa1: image is 256x512, expected 512x512/);
  await assert.rejects(readTileImage(ds, 'aaaaaaaaaaa2'), /aaaaaaaaaaa2\.tif: tile aaaaaaaaaaa2: image has 1 channel, expected 3/);
  await assert.rejects(readTileImage(ds, 'bbbbbbbbbbb1'), /bbbbbbbbbbb1\.tif: tile bbbbbbbbbbb1: image has 4 channels, expected 3/);
  const { issues } = await checkDataset(dir);
  assert.deepEqual(issues.map((i) => i.tileId).sort(), ['aaaaaaaaaaa1', 'aaaaaaaaaaa2', 'bbbbbbbbbbb1']);
});

test('bad input: corrupt image file', async () => {
  const dir = await freshDataset();
  await writeFile(join(dir, 'train', 'aaaaaaaaaaa1.tif'), 'not a tiff at all');
  const ds = await loadDataset(dir);
  await assert.rejects(readTileImage(ds, 'aaaaaaaaaaa1'), /aaaaaaaaaaa1\.tif: tile aaaaaaaaaaa1: cannot decode image/);
});

test('bad input: CSV with missing columns', async () => {
  const dir = await freshDataset();
  await writeFile(join(dir, 'tile_meta.csv'), 'id,source_wsi,i\naaaaaaaaaaa1,1,0\n');
  await expectLoadError(dir, 'tile_meta.csv', 'line 1', 'missing columns dataset, j');
});

test('bad input: non-integer numbers in tile_meta.csv', async () => {
  const dir = await freshDataset();
  await writeFile(join(dir, 'tile_meta.csv'), 'id,source_wsi,dataset,i,j\naaaaaaaaaaa1,1,one,0,0\n');
  await expectLoadError(dir, 'tile_meta.csv', 'line 2', 'column dataset must be an integer');
});

test('bad input: tile ids that are not plain file names never reach the file system', async () => {
  for (const id of ['../../etc/passwd', 'a/b', '..', 'x\\y']) {
    const dir = await freshDataset();
    await appendFile(join(dir, 'polygons.jsonl'), JSON.stringify({ id, annotations: [] }) + '\n');
    await expectLoadError(dir, 'polygons.jsonl', 'line 4', 'not a plain file name');
  }
  const dir = await freshDataset();
  await writeFile(join(dir, 'tile_meta.csv'), 'id,source_wsi,dataset,i,j\n../evil,1,1,0,0\n');
  await expectLoadError(dir, 'tile_meta.csv', 'line 2', 'not a plain file name');
  await assert.rejects(writeDatasetFiles(await tempDir(), { tiles: [{ id: '../x', sourceWsi: 1, dataset: 1, i: 0, j: 0 }], wsis: [], labels: [] }), /not a plain file name/);
});

test('data check lists every problem, not only the first', async () => {
  const dir = await freshDataset();
  await appendFile(join(dir, 'polygons.jsonl'), 'garbage\n' + JSON.stringify({ id: 'ccccccccccc1', annotations: [{ type: 'vein', coordinates: [] }] }) + '\n');
  await rm(join(dir, 'train', 'aaaaaaaaaaa2.tif'));
  await mkdir(join(dir, 'train'), { recursive: true });
  await writeFile(join(dir, 'train', 'ddddddddddd1.tif'), await sharp(Buffer.from(flatImage().data), { raw: { width: 512, height: 512, channels: 3 } }).tiff().toBuffer());
  const { summary, issues } = await checkDataset(dir);
  const text = issues.map((i) => `${i.line ?? ''} ${i.tileId ?? ''} ${i.message}`);
  assert.equal(issues.length, 3, text.join('\n'));
  assert.ok(text.some((t) => t.startsWith('4 ') && t.includes('not valid JSON')));
  assert.ok(text.some((t) => t.includes('ccccccccccc1') && t.includes('unknown type "vein"')));
  assert.ok(text.some((t) => t.includes('aaaaaaaaaaa2') && t.includes('has no image')));
  assert.equal(summary.imagesWithoutMetadata, 1);
  assert.equal(summary.tilesWithoutImages, 1);
});

test('data check summary of a valid dataset', async () => {
  const dir = await freshDataset();
  const { summary, issues } = await checkDataset(dir);
  assert.deepEqual(issues, []);
  assert.equal(summary.tiles, 4);
  assert.deepEqual(summary.annotations, { blood_vessel: 5, glomerulus: 1, unsure: 1 });
  assert.deepEqual(summary.vesselsPerTile, { median: 2, mean: 5 / 3, max: 2 });
  // Squares of side s filled with boundary pixels cover (s + 1)^2 pixels.
  assert.equal(summary.vesselArea!.max, 51 * 51);
  assert.equal(summary.duplicatesDropped, 1);
  assert.deepEqual(summary.tilesByDatasetAndWsi.map((g) => [g.dataset, g.wsi, g.tiles, g.labelled, g.images]),
    [[1, 1, 2, 2, 2], [2, 2, 1, 1, 1], [3, 6, 1, 0, 1]]);
});
