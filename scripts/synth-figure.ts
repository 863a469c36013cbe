/**
 * docs/synth-vs-real.png: real tiles beside synthetic tiles of the same dataset and WSI, one
 * row per (dataset, WSI): three real tiles on the left, three synthetic ones on the right.
 * Run: npm run docs:synth-figure -- [--real DIR] [--out docs/synth-vs-real.png] [--seed 0]
 * (DIR: a dataset of real tiles in the Kaggle layout, such as the 218 of ../shared/hubmap-real.)
 */
import sharp from 'sharp';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset, readTileImage, type Dataset } from '../src/data/dataset.ts';
import { synthSchema } from '../src/synth/config.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { pathExists } from '../src/util/fs.ts';
import { flagReader } from '../bench/flags.ts';

const flag = flagReader('scripts/synth-figure.ts');
const realDir = flag('--real', '../shared/hubmap-real');
const out = flag('--out', 'docs/synth-vs-real.png');
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
await rm(work, { recursive: true, force: true });
console.log(`wrote ${out}: ${groups.length} rows (dataset, WSI), ${PER} real tiles from ${realDir} | ${PER} synthetic tiles (seed ${seed}) each, at ${SIDE} px`);
