/**
 * assets/reference/real_colour.json: the stain of real tiles as the synthetic generator uses
 * it, per source WSI: each channel's cumulative histogram over the WSI's tiles (the colours
 * of the stain, in their order of brightness) and the mean amplitude of the tiles' fine
 * texture (`fineTextureSd`: how sharp the WSI was scanned), the share of its area that is
 * bare glass and the glass's mean colour (`glassMask`), pooled over every tile for WSIs
 * without real tiles. Derived statistics only; no pixel of a real tile is stored.
 * Run: npm run docs:real-colour -- --real ../shared/hubmap-real [--out assets/reference/real_colour.json]
 */
import { resolve } from 'node:path';
import { loadDataset, readTileImage } from '../src/data/dataset.ts';
import { fineTextureSd } from '../src/synth/detail.ts';
import { glassStats } from '../src/synth/glass.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { flagReader } from '../bench/flags.ts';

const flag = flagReader('scripts/real-colour.ts');
const realDir = resolve(flag('--real'));
const out = flag('--out', 'assets/reference/real_colour.json');

const ds = await loadDataset(realDir, { strict: true });
type Hist = [Float64Array, Float64Array, Float64Array];
const hists = new Map<number, { tiles: number; hist: Hist; fineSd: number; pixels: number; glass: number; glassSum: [number, number, number] }>();
const add = (key: number, data: Uint8Array, fineSd: number, glass: ReturnType<typeof glassStats>) => {
  const h = hists.get(key) ?? { tiles: 0, hist: [new Float64Array(256), new Float64Array(256), new Float64Array(256)] as Hist, fineSd: 0, pixels: 0, glass: 0, glassSum: [0, 0, 0] };
  for (let p = 0; p < data.length; p += 3) for (let c = 0; c < 3; c++) h.hist[c]![data[p + c]!]!++;
  h.glass += glass.pixels;
  for (let c = 0; c < 3; c++) h.glassSum[c] += glass.sum[c]!;
  h.fineSd += fineSd;
  h.pixels += data.length / 3;
  h.tiles++;
  hists.set(key, h);
};
for (const t of ds.tiles) {
  if (!ds.images.train.has(t.id)) continue;
  const img = await readTileImage(ds, t.id);
  const fine = fineTextureSd(img.data, img.width, img.height);
  const glass = glassStats(img.data, img.width, img.height);
  add(t.sourceWsi, img.data, fine, glass);
  add(0, img.data, fine, glass);
}
const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
/** Cumulative share at each grey level, rounded to 5 decimals (enough for 512 x 512 tiles). */
const cdf = (h: Float64Array) => {
  const total = h.reduce((s, v) => s + v, 0);
  let cum = 0;
  return [...h].map((v) => Math.round(((cum += v) / total) * 1e5) / 1e5);
};
const wsis = Object.fromEntries([...hists].sort((a, b) => a[0] - b[0]).map(([k, h]) => [k === 0 ? 'all' : String(k), {
  tiles: h.tiles,
  fineSd: round(h.fineSd / h.tiles, 3),
  glass: round(h.glass / h.pixels, 4),
  glassRgb: h.glassSum.map((s) => round(s / Math.max(h.glass, 1), 1)),
  cdf: h.hist.map(cdf),
}]));
await writeFileAtomic(out, JSON.stringify({ source: 'real 512 px PAS tiles of the HuBMAP 2023 training set (dataset 1 and 2)', channels: 'R, G, B; cdf[c][v] = share of pixels with value <= v', fineSd: 'mean over tiles of the sd of luma minus its Gaussian blur (sigma 1.5 px)', glass: 'share of the tiles\' pixels that are bare glass (src/synth/glass.ts); glassRgb: their mean colour', wsis }) + '\n');
console.log(`wrote ${out}: ${[...hists].map(([k, h]) => `${k === 0 ? 'all' : `WSI ${k}`} ${h.tiles} tiles`).join(', ')}`);
