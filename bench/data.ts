/**
 * npm run bench:data — load and rasterise the labels of 1,633 tiles (the size of the real
 * polygons.jsonl) and decode their images; prints tiles/s for each part and for the whole.
 * The dataset is built once from the real 85-tile expert polygons (repeated) and cached in .cache/.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset, readTileImage, writeDatasetFiles, writeTileImage } from '../src/data/dataset.ts';
import { rasterize } from '../src/data/rasterize.ts';
import { readReferenceMaterial, paintTile } from '../src/reference/build.ts';
import { TILE_SIZE, type TileLabels, type TileMeta } from '../src/data/types.ts';
import { writeDirAtomic } from '../src/util/atomic.ts';

const N = 1633;
const dir = join('.cache', 'bench-data-1633');

async function build(): Promise<void> {
  const { vessels } = await readReferenceMaterial();
  const tiles: TileMeta[] = [];
  const labels: TileLabels[] = [];
  for (let k = 0; k < N; k++) {
    const id = k.toString(16).padStart(12, '0');
    tiles.push({ id, sourceWsi: 1 + (k % 4), dataset: k < 422 ? 1 : 2, i: 512 * (k % 40), j: 512 * Math.floor(k / 40) });
    labels.push({ id, annotations: vessels[k % vessels.length]!.annotations });
  }
  await writeDirAtomic(dir, async (tmp) => {
    await writeDatasetFiles(tmp, { tiles, wsis: [], labels });
    for (const [k, l] of labels.entries()) {
      await writeTileImage(tmp, l.id, paintTile(l, k));
      if (k % 200 === 0) process.stderr.write(`building bench dataset ${k}/${N}\n`);
    }
  });
}

if (!(await access(join(dir, 'polygons.jsonl')).then(() => true, () => false))) await build();

let t0 = performance.now();
const ds = await loadDataset(dir);
let masks = 0;
for (const anns of ds.labels.values()) for (const a of anns) { rasterize(a.coordinates, TILE_SIZE, TILE_SIZE); masks++; }
const labelSeconds = (performance.now() - t0) / 1000;

t0 = performance.now();
for (const t of ds.tiles) await readTileImage(ds, t.id);
const decodeSeconds = (performance.now() - t0) / 1000;

const total = labelSeconds + decodeSeconds;
console.log(`tiles: ${ds.tiles.length}, masks rasterised: ${masks}`);
console.log(`labels (parse + rasterise): ${labelSeconds.toFixed(2)} s = ${(N / labelSeconds).toFixed(0)} tiles/s`);
console.log(`images (TIFF decode):       ${decodeSeconds.toFixed(2)} s = ${(N / decodeSeconds).toFixed(0)} tiles/s`);
console.log(`total:                      ${total.toFixed(2)} s = ${(N / total).toFixed(0)} tiles/s; decoding is ${(100 * decodeSeconds / total).toFixed(0)}% of the time`);
