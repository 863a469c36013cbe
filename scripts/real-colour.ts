/**
 * assets/reference/real_colour.json: the stain of real tiles as the synthetic generator uses
 * it, per source WSI: each channel's cumulative histogram over the WSI's tiles (the colours
 * of the stain, in their order of brightness) and the mean amplitude of the tiles' fine
 * texture (`fineTextureSd`: how sharp the WSI was scanned), pooled over every tile for WSIs
 * without real tiles. Derived statistics only; no pixel of a real tile is stored.
 * Run: npm run docs:real-colour -- --real ../shared/hubmap-real [--out assets/reference/real_colour.json]
 */
import { resolve } from 'node:path';
import { loadDataset, readTileImage } from '../src/data/dataset.ts';
import { fineTextureSd } from '../src/synth/detail.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { flagReader } from '../bench/flags.ts';

const flag = flagReader('scripts/real-colour.ts');
const realDir = resolve(flag('--real'));
const out = flag('--out', 'assets/reference/real_colour.json');

const ds = await loadDataset(realDir, { strict: true });
type Hist = [Float64Array, Float64Array, Float64Array];
const hists = new Map<number, { tiles: number; hist: Hist; fineSd: number }>();
const add = (key: number, data: Uint8Array, fineSd: number) => {
  const h = hists.get(key) ?? { tiles: 0, hist: [new Float64Array(256), new Float64Array(256), new Float64Array(256)] as Hist, fineSd: 0 };
  for (let p = 0; p < data.length; p += 3) for (let c = 0; c < 3; c++) h.hist[c]![data[p + c]!]!++;
  h.fineSd += fineSd;
  h.tiles++;
  hists.set(key, h);
};
for (const t of ds.tiles) {
  if (!ds.images.train.has(t.id)) continue;
  const img = await readTileImage(ds, t.id);
  const fine = fineTextureSd(img.data, img.width, img.height);
  add(t.sourceWsi, img.data, fine);
  add(0, img.data, fine);
}
/** Cumulative share at each grey level, rounded to 5 decimals (enough for 512 x 512 tiles). */
const cdf = (h: Float64Array) => {
  const total = h.reduce((s, v) => s + v, 0);
  let cum = 0;
  return [...h].map((v) => Math.round(((cum += v) / total) * 1e5) / 1e5);
};
const wsis = Object.fromEntries([...hists].sort((a, b) => a[0] - b[0]).map(([k, h]) => [k === 0 ? 'all' : String(k), { tiles: h.tiles, fineSd: Math.round((h.fineSd / h.tiles) * 1000) / 1000, cdf: h.hist.map(cdf) }]));
await writeFileAtomic(out, JSON.stringify({ source: 'real 512 px PAS tiles of the HuBMAP 2023 training set (dataset 1 and 2)', channels: 'R, G, B; cdf[c][v] = share of pixels with value <= v', fineSd: 'mean over tiles of the sd of luma minus its Gaussian blur (sigma 1.5 px)', wsis }) + '\n');
console.log(`wrote ${out}: ${[...hists].map(([k, h]) => `${k === 0 ? 'all' : `WSI ${k}`} ${h.tiles} tiles`).join(', ')}`);
