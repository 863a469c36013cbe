import sharp from 'sharp';
import { UMAP } from 'umap-js';
import { imagePath, loadDataset, readTileImage, type Dataset } from '../data/dataset.ts';
import { drawOutlines } from '../data/overlay.ts';
import { rasterize } from '../data/rasterize.ts';
import { mulberry32 } from '../util/stats.ts';
import { imageToInput } from '../infer/preprocess.ts';
import { openRuntime, type Array4, type Runtime } from '../infer/runtime.ts';
import { histogram, scatter } from './charts.ts';
import { Report } from './html.ts';

/**
 * Appearance features of a tile, from a 64 px thumbnail: mean and spread of each colour
 * channel, saturation, the pale (lumen and background) fraction, and two texture measures
 * (mean gradient and Laplacian magnitude of the grey image). Cheap, and enough to separate
 * stains, scanners and tissue types the way the seed's t-SNE map did.
 */
export async function tileFeatures(file: string): Promise<number[]> {
  const n = 64;
  const { data } = await sharp(file).removeAlpha().resize(n, n, { kernel: 'cubic' }).raw().toBuffer({ resolveWithObject: true });
  const grey = new Float64Array(n * n);
  const sums = [0, 0, 0], sq = [0, 0, 0];
  let sat = 0, pale = 0;
  for (let p = 0; p < n * n; p++) {
    const r = data[p * 3]!, g = data[p * 3 + 1]!, b = data[p * 3 + 2]!;
    [r, g, b].forEach((v, c) => { sums[c] += v; sq[c] += v * v; });
    const max = Math.max(r, g, b), min = Math.min(r, g, b);
    sat += max > 0 ? (max - min) / max : 0;
    grey[p] = (r + g + b) / 3;
    if (grey[p]! > 200) pale++;
  }
  let grad = 0, lap = 0;
  for (let y = 1; y < n - 1; y++) for (let x = 1; x < n - 1; x++) {
    const p = y * n + x;
    grad += Math.hypot(grey[p + 1]! - grey[p - 1]!, grey[p + n]! - grey[p - n]!);
    lap += Math.abs(4 * grey[p]! - grey[p - 1]! - grey[p + 1]! - grey[p - n]! - grey[p + n]!);
  }
  const m = n * n, inner = (n - 2) * (n - 2);
  const means = sums.map((s) => s / m);
  return [...means, ...sq.map((s, c) => Math.sqrt(Math.max(0, s / m - means[c]! ** 2))), sat / m, pale / m, grad / inner, lap / inner];
}

/** Standardise columns to zero mean, unit variance. */
function standardise(rows: number[][]): number[][] {
  const d = rows[0]!.length;
  const mean = Array.from({ length: d }, (_, j) => rows.reduce((s, r) => s + r[j]!, 0) / rows.length);
  const sd = Array.from({ length: d }, (_, j) => Math.sqrt(rows.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / rows.length) || 1);
  return rows.map((r) => r.map((v, j) => (v - mean[j]!) / sd[j]!));
}

/** Pick up to `max` items, seeded, keeping order. */
function sample<T>(items: T[], max: number, seed: number): T[] {
  if (items.length <= max) return items;
  const random = mulberry32(seed);
  const keyed = items.map((item) => ({ item, key: random() }));
  const cut = [...keyed].sort((a, b) => a.key - b.key)[max - 1]!.key;
  return keyed.filter((k) => k.key <= cut).map((k) => k.item);
}

/**
 * Model features of a tile: the network's prototype and P5 head outputs, each averaged over
 * space (what the model "sees", as opposed to what the colours say).
 */
async function modelFeatures(runtime: Runtime, ds: Dataset, id: string): Promise<number[]> {
  const out = await runtime.run(imageToInput(await readTileImage(ds, id), runtime.imgsz), 1, runtime.imgsz);
  const pooled = (a: Array4) => {
    const [, h, w, c] = a.shape;
    const m = new Array<number>(c).fill(0);
    for (let p = 0; p < h * w; p++) for (let k = 0; k < c; k++) m[k] += a.data[p * c + k]! / (h * w);
    return m;
  };
  return [...pooled(out.proto), ...pooled(out.heads[2]!)];
}

async function domainMap(report: Report, ds: Dataset, maxTiles: number, log: (line: string) => void, weights?: string): Promise<void> {
  const tiles = sample(ds.tiles.filter((t) => ds.images.train.has(t.id)), maxTiles, 0);
  if (tiles.length < 5) {
    report.paragraph(`Domain map: only ${tiles.length} tiles have images; at least 5 are needed.`);
    return;
  }
  log(`domain map: appearance features of ${tiles.length} tiles`);
  const features: number[][] = [];
  const runtime = weights ? await openRuntime(weights, 'onnx') : null;
  for (const t of tiles) features.push(runtime ? await modelFeatures(runtime, ds, t.id) : await tileFeatures(imagePath(ds, t.id, 'train')!));
  await runtime?.dispose();
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(15, tiles.length - 1), minDist: 0.1, random: mulberry32(0) });
  const embedding = umap.fit(standardise(features));
  const rows = tiles.map((t, k) => ({ id: t.id, x: embedding[k]![0]!, y: embedding[k]![1]!, dataset: `dataset ${t.dataset}`, wsi: `WSI ${t.sourceWsi}` }));
  report.heading('Domain map');
  const what = weights ? `model features (prototype and P5 head outputs averaged over space, ${weights})` : 'appearance (colour means and spreads, saturation, pale fraction, gradient and Laplacian texture of a 64 px thumbnail)';
  report.paragraph(`UMAP (umap-js, 15 neighbours, seed 0) of ${tiles.length} tiles' ${what}${tiles.length < ds.tiles.length ? `, a seeded sample of the ${ds.tiles.length}` : ''}. Where only dataset 3 lies, no label has taught the model anything: the seed's reason to pseudo-label it.`);
  await report.chart('domain-by-dataset', scatter('tiles by dataset', rows, 'dataset'));
  await report.chart('domain-by-wsi', scatter('tiles by WSI', rows, 'wsi'));
}

/** Report of a dataset: counts, vessel sizes, a labelled sample tile per WSI, the domain map. */
export async function dataReport(dir: string, out: string, options: { maxTiles?: number; log?: (line: string) => void; weights?: string } = {}): Promise<{ file: string; figures: string[] }> {
  const log = options.log ?? (() => {});
  const ds = await loadDataset(dir, { strict: true });
  const report = new Report(out, `vascseg dataset ${dir}`);
  report.heading('Counts');
  const byDataset = new Map<number, { tiles: number; labelled: number; images: number }>();
  for (const t of ds.tiles) {
    const e = byDataset.get(t.dataset) ?? { tiles: 0, labelled: 0, images: 0 };
    e.tiles++; if (ds.labels.has(t.id)) e.labelled++; if (ds.images.train.has(t.id) || ds.images.test.has(t.id)) e.images++;
    byDataset.set(t.dataset, e);
  }
  report.table(['dataset', 'tiles', 'labelled', 'with images'], [...byDataset].sort(([a], [b]) => a - b).map(([d, e]) => [d, e.tiles, e.labelled, e.images]));
  const types = new Map<string, number>();
  const areas: { area: number; dataset: string }[] = [];
  for (const [id, anns] of ds.labels) {
    const meta = ds.tileById.get(id);
    for (const a of anns) {
      types.set(a.type, (types.get(a.type) ?? 0) + 1);
      if (a.type === 'blood_vessel') areas.push({ area: Math.log10(Math.max(1, rasterize(a.coordinates, 512, 512).reduce((s, v) => s + v, 0))), dataset: `dataset ${meta?.dataset ?? '?'}` });
    }
  }
  report.table(['annotation type', 'count'], [...types].sort().map(([t, c]) => [t, c]));
  const byWsi = new Map<number, number>();
  for (const t of ds.tiles) byWsi.set(t.sourceWsi, (byWsi.get(t.sourceWsi) ?? 0) + 1);
  report.table(['WSI', 'tiles'], [...byWsi].sort(([a], [b]) => a - b));
  if (areas.length > 0) await report.chart('vessel-areas', histogram('vessel area (log10 pixels) by dataset', areas, 'area', 'dataset', 'log10 area (px)'));
  report.heading('A labelled tile per WSI');
  for (const wsi of [...byWsi.keys()].sort((a, b) => a - b)) {
    const tiles = ds.tiles.filter((t) => t.sourceWsi === wsi && ds.images.train.has(t.id));
    const tile = tiles.find((t) => ds.labels.has(t.id)) ?? tiles[0];
    if (!tile) continue;
    const img = drawOutlines(await readTileImage(ds, tile.id), ds.labels.get(tile.id) ?? []);
    const png = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).resize(256, 256).png().toBuffer();
    await report.image(`wsi-${wsi}`, png, `WSI ${wsi}, dataset ${tile.dataset}: ${tile.id}${ds.labels.has(tile.id) ? ` (${ds.labels.get(tile.id)!.length} labels)` : ' (unlabelled)'}`);
  }
  await domainMap(report, ds, options.maxTiles ?? 2000, log, options.weights);
  return { file: await report.write(), figures: report.figures };
}
