/**
 * docs/synth-vs-real.png: real tiles beside synthetic tiles of the same dataset and WSI, one
 * row per (dataset, WSI): three real tiles on the left, three synthetic ones on the right.
 * Run: npm run docs:synth-figure -- [--real DIR] [--out docs/synth-vs-real.png] [--seed 0]
 * (DIR: a dataset of real tiles in the Kaggle layout, such as the 218 of ../shared/hubmap-real.)
 *
 * Also `--detail-out` (docs/synth-vs-real-detail.png): at full resolution, where the thumbnails
 * cannot show it, what the learned refiner (generator version 5) does to the grain: per
 * (dataset, WSI), a 128 px crop of a real tile, then the same crop of a synthetic tile before
 * the refiner (`refine: false`) and after it, each drawn at 2x.
 */
import sharp from 'sharp';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, readTileImage, type Dataset } from '../src/data/dataset.ts';
import { synthSchema } from '../src/synth/config.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { pathExists } from '../src/util/fs.ts';
import { refineTile } from '../src/synth/refiner.ts';
import { flagReader } from '../bench/flags.ts';

const flag = flagReader('scripts/synth-figure.ts');
const realDir = flag('--real', '../shared/hubmap-real');
const out = flag('--out', 'docs/synth-vs-real.png');
const detailOut = flag('--detail-out', 'docs/synth-vs-real-detail.png');
const seed = Number(flag('--seed', '0'));
const PER = 3, SIDE = 200, GAP = 6, LABEL = 150;

if (!(await pathExists(join(realDir, 'tile_meta.csv')))) throw new Error(`--real ${realDir}: no tile_meta.csv; give a dataset of real tiles in the Kaggle layout`);
const real = await loadDataset(realDir, { strict: true });
const groups = [...new Set(real.tiles.filter((t) => real.images.train.has(t.id)).map((t) => `${t.dataset}/${t.sourceWsi}`))].sort();
const key = (g: string) => g.split('/').map(Number) as [number, number];

const work = await mkdtemp(join(tmpdir(), 'synth-figure-'));
const dir = join(work, 'ds');
const wsis = new Map<number, { wsi: number; dataset1: number; dataset2: number }>();
for (const g of groups) {
  const [d, w] = key(g);
  const c = wsis.get(w) ?? { wsi: w, dataset1: 0, dataset2: 0 };
  if (d === 1) c.dataset1 = PER; else c.dataset2 = PER;
  wsis.set(w, c);
}
await generateDataset(synthSchema.parse({ seed, wsis: [...wsis.values()] }), dir);
const synth = await loadDataset(dir);

const pick = (ds: Dataset, g: string) => {
  const [d, w] = key(g);
  return ds.tiles.filter((t) => t.dataset === d && t.sourceWsi === w && ds.images.train.has(t.id)).map((t) => t.id).sort().slice(0, PER);
};
const thumb = async (ds: Dataset, id: string) => {
  const img = await readTileImage(ds, id);
  return sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).resize(SIDE, SIDE).png().toBuffer();
};
const text = (s: string, w: number, h: number, size = 18) => Buffer.from(`<svg width="${w}" height="${h}"><text x="${w / 2}" y="${h / 2}" font-family="sans-serif" font-size="${size}" text-anchor="middle" dominant-baseline="middle">${s}</text></svg>`);

const top = 34;
const width = LABEL + 2 * PER * (SIDE + GAP) + GAP * 3;
const height = top + groups.length * (SIDE + GAP);
const layers: sharp.OverlayOptions[] = [
  { input: text('real', PER * (SIDE + GAP), top), left: LABEL, top: 0 },
  { input: text('synthetic (vascseg synth)', PER * (SIDE + GAP), top), left: LABEL + PER * (SIDE + GAP) + GAP * 3, top: 0 },
];
for (const [row, g] of groups.entries()) {
  const [d, w] = key(g);
  const y = top + row * (SIDE + GAP);
  layers.push({ input: text(`dataset ${d}, WSI ${w}`, LABEL, SIDE, 16), left: 0, top: y });
  for (const [k, id] of pick(real, g).entries()) layers.push({ input: await thumb(real, id), left: LABEL + k * (SIDE + GAP), top: y });
  for (const [k, id] of pick(synth, g).entries()) layers.push({ input: await thumb(synth, id), left: LABEL + (PER + k) * (SIDE + GAP) + GAP * 3, top: y });
}
await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(layers).png({ palette: true, quality: 90, compressionLevel: 9 }).toFile(out); // a palette keeps the figure near 1 MB

// The detail figure: 128 px crops at 2x, real | synthetic before the refiner | after it.
const CROP = 128, ZOOM = 2, Z = CROP * ZOOM;
const before = join(work, 'before');
await generateDataset(synthSchema.parse({ seed, wsis: [...wsis.values()], appearance: { refine: false } }), before);
const unrefined = await loadDataset(before);
const crop = (data: Uint8Array) => {
  const pixels = new Uint8Array(CROP * CROP * 3), x0 = 192, y0 = 192; // the tile's centre
  for (let y = 0; y < CROP; y++) pixels.set(data.subarray(((y0 + y) * 512 + x0) * 3, ((y0 + y) * 512 + x0 + CROP) * 3), y * CROP * 3);
  return sharp(Buffer.from(pixels), { raw: { width: CROP, height: CROP, channels: 3 } }).resize(Z, Z, { kernel: 'nearest' }).png().toBuffer();
};
const heads = ['real', 'synthetic, before the refiner', 'after the refiner'];
const detail: sharp.OverlayOptions[] = heads.map((h, k) => ({ input: text(h, Z, top, 16), left: LABEL + k * (Z + GAP), top: 0 }));
for (const [row, g] of groups.entries()) {
  const [d, w] = key(g);
  const y = top + row * (Z + GAP);
  const tile = (await readTileImage(unrefined, pick(unrefined, g)[0]!)).data;
  detail.push({ input: text(`dataset ${d}, WSI ${w}`, LABEL, Z, 16), left: 0, top: y });
  detail.push({ input: await crop((await readTileImage(real, pick(real, g)[0]!)).data), left: LABEL, top: y });
  detail.push({ input: await crop(tile), left: LABEL + Z + GAP, top: y });
  detail.push({ input: await crop(refineTile(tile, 512, 512)), left: LABEL + 2 * (Z + GAP), top: y });
}
await sharp({ create: { width: LABEL + 3 * (Z + GAP), height: top + groups.length * (Z + GAP), channels: 3, background: '#ffffff' } })
  .composite(detail).png({ compressionLevel: 9 }).toFile(detailOut);
await rm(work, { recursive: true, force: true });
console.log(`wrote ${detailOut}: per (dataset, WSI) a ${CROP} px crop of a real tile | a synthetic one before the refiner | after it, at ${ZOOM}x`);
console.log(`wrote ${out}: ${groups.length} rows (dataset, WSI), ${PER} real tiles from ${realDir} | ${PER} synthetic tiles (seed ${seed}) each, at ${SIDE} px`);
