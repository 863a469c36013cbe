/**
 * npm run bench:realism -- --real ../shared/hubmap-real [--seeds 0,1,2] [--epochs 12] [--synth-seed 0] [--appearance JSON] [--work DIR]
 * npm run bench:realism -- --real ../shared/hubmap-real --synthetic DIR [--seeds ...] [--epochs ...] [--work DIR]
 *
 * How far the synthetic tissue is from real tiles: classifier two-sample tests (50% held-out
 * accuracy = indistinguishable) and per-feature distances.
 *
 *   - A synthetic dataset with as many tiles of each (dataset, WSI) as the real one holds
 *     (`vascseg synth` with those counts, --synth-seed), so both sides have the same mix.
 *   - Per-tile features: RGB means and spreads, HSV saturation and value means and spreads,
 *     fractions of near-white (lumens, glass) and dark (nuclei) pixels, an 8-bin histogram of
 *     Sobel gradient magnitude on grey, a 10-bin histogram of uniform local binary
 *     patterns (radius 1, 8 neighbours: local texture), and how much more grey varies across
 *     than down at 1, 2 and 4 px (orientation: the real tiles' structures are taller than wide).
 *   - Linear test: logistic regression on the standardised features, trained on a random
 *     half of each side, accuracy on the other half, per seed.
 *   - CNN test: a small convolutional net (3 strided 3x3 conv layers, 16-32-64 channels,
 *     global average pooling, one logit) trained on 128 px full-resolution crops of the same
 *     training halves (4 random crops per tile and epoch), a tile's score the mean over its 16
 *     crops; accuracy on the held-out halves at a score of 0.5, and the scores' AUC (a run can
 *     rank the tiles well with every score on one side of 0.5: accuracy 50%, AUC well above
 *     0.5), per seed.
 *     The CNN's figure does not reproduce run to run, even at one seed on the same tiles (seed 0
 *     gave 96.3% and then 73.4% on the generator of 2026-12-01; its cause, somewhere in tfjs's
 *     training, is not found): compare means over several seeds, never one run.
 *   - The linear test again on each group of features alone (colour, gradient, LBP, orientation): which kind
 *     of statistic gives the synthetic tiles away.
 *   - Scanner statistics, printed beside the tests (not fed to them): how often neighbouring
 *     pixels are exactly equal, in tissue and in bright areas, and the fine texture's
 *     correlation 1 and 2 px across and down (real tiles are smoother down than across); and
 *     the shape of whole vessel outlines (median var(y) / var(x), share taller than wide) of
 *     the 85 real expert-labelled reference tiles against the synthetic dataset-1 labels.
 *   - Composition, printed: how much of the tiles is bare glass (`glassMask`, as
 *     scripts/real-colour.ts measures the real tiles for the generator) and its colour.
 *   - The report JSON holds every tile's features, for tests the bench does not run.
 *   - Per feature: the Kolmogorov-Smirnov statistic between real and synthetic values, and
 *     the standardised mean difference (difference of means over the pooled sd): the larger,
 *     the more that statistic gives the synthetic tiles away; and the ratio of the synthetic
 *     to the real spread over tiles (under 1: synthetic tiles are more alike than real ones).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadDataset, type Dataset } from '../src/data/dataset.ts';
import { glassStats } from '../src/synth/glass.ts';
import type { RgbImage } from '../src/data/images.ts';
import type { Annotation } from '../src/data/types.ts';
import { loadHiddenTruth } from '../src/pseudo/pseudo.ts';
import { readReferenceMaterial } from '../src/reference/build.ts';
import { setupBackend } from '../src/engine/backend.ts';
import { synthSchema } from '../src/synth/config.ts';
import { GENERATOR_VERSION, generateDataset, generatorVersionOf } from '../src/synth/generate.ts';
import { Rng } from '../src/util/random.ts';
import { pathExists } from '../src/util/fs.ts';
import { flagReader } from './flags.ts';
import { trainTileImages } from './tiles.ts';

const flag = flagReader('bench/realism.ts');
const realDir = resolve(flag('--real'));
const seeds = flag('--seeds', '0,1,2').split(',').map(Number);
const epochs = Number(flag('--epochs', '12'));
const synthSeed = Number(flag('--synth-seed', '0'));
/** Overrides of the synthetic appearance (`appearanceSchema`), to see what moves the figures. */
const appearance = JSON.parse(flag('--appearance', '{}')) as Record<string, unknown>;
const variant = Object.keys(appearance).length ? `-${Object.entries(appearance).map(([k, v]) => `${k}${v}`).join('-')}` : '';
const work = resolve(flag('--work', join('runs', 'bench', 'realism')));
/**
 * A dataset in the Kaggle layout to measure as it is instead of rendering one: tiles of another
 * generator, or ours after a post-processing step. Its (dataset, WSI) mix should be the real
 * side's (a difference is printed); its hidden truth, if it has one, joins the outline shapes.
 */
const given = flag('--synthetic', '');
if (given && (process.argv.includes('--appearance') || process.argv.includes('--synth-seed'))) {
  throw new Error('--synthetic measures the dataset given; --appearance and --synth-seed describe one to render: pass one or the other');
}
await mkdir(work, { recursive: true });

// --- the two sides ---------------------------------------------------------------------------
const real = await loadDataset(realDir, { strict: true });
const counts = new Map<number, { wsi: number; dataset1: number; dataset2: number; dataset3: number }>();
for (const t of real.tiles) {
  const c = counts.get(t.sourceWsi) ?? { wsi: t.sourceWsi, dataset1: 0, dataset2: 0, dataset3: 0 };
  c[`dataset${t.dataset}` as 'dataset1' | 'dataset2' | 'dataset3']++;
  counts.set(t.sourceWsi, c);
}
const synthDir = given ? resolve(given) : join(work, `synth-${synthSeed}${variant}`);
// A dataset left by another generator version is rendered again (its tiles would look different).
if (!given && (!(await pathExists(join(synthDir, 'tile_meta.csv'))) || (await generatorVersionOf(synthDir)) !== GENERATOR_VERSION)) {
  await rm(synthDir, { recursive: true, force: true });
  console.log(`rendering ${real.tiles.length} synthetic tiles with the real (dataset, WSI) counts into ${synthDir}`);
  await generateDataset(synthSchema.parse({ seed: synthSeed, wsis: [...counts.values()].sort((a, b) => a.wsi - b.wsi), appearance }), synthDir);
}
const synth = await loadDataset(synthDir, { strict: true });
if (given) {
  const mix = (ds: Dataset) => {
    const m = new Map<string, number>();
    for (const t of ds.tiles) {
      const key = `dataset ${t.dataset} WSI ${t.sourceWsi}`;
      if (ds.images.train.has(t.id)) m.set(key, (m.get(key) ?? 0) + 1);
    }
    return m;
  };
  const r = mix(real), s = mix(synth);
  const differ = [...new Set([...r.keys(), ...s.keys()])].sort().filter((k) => r.get(k) !== s.get(k)).map((k) => `${k}: real ${r.get(k) ?? 0}, given ${s.get(k) ?? 0}`);
  if (differ.length) console.log(`the given dataset's mix differs from the real one's (the tests then also see the mix): ${differ.join('; ')}`);
}

const images = async (ds: Dataset) => (await trainTileImages(ds)).map((t) => t.img);
const realImgs = await images(real), synthImgs = await images(synth);
console.log(`real ${realImgs.length} tiles (${realDir}), synthetic ${synthImgs.length} tiles (${given ? synthDir : `synth seed ${synthSeed}`})`);

// --- features ----------------------------------------------------------------------------------
const GRAD_EDGES = [2, 4, 8, 16, 32, 64, 128]; // 8 bins of Sobel magnitude on 0..255 grey
const ORIENTATION_SCALES = [1, 2, 4];

/**
 * log(mean squared difference of horizontal neighbours / of vertical ones) of grey averaged in
 * s x s blocks: 0 for tissue that looks the same turned by 90 degrees; above 0 where structures
 * are taller than wide (the real tiles: their power across is about twice their power down at
 * periods of 4-32 px, and their expert vessel outlines are taller than wide).
 */
function acrossOverDown(grey: Float32Array, w: number, h: number, s: number): number {
  const bw = Math.floor(w / s), bh = Math.floor(h / s);
  const b = new Float32Array(bw * bh);
  for (let y = 0; y < bh * s; y++) for (let x = 0; x < bw * s; x++) b[Math.floor(y / s) * bw + Math.floor(x / s)] += grey[y * w + x]! / (s * s);
  let across = 0, down = 0;
  for (let y = 0; y < bh - 1; y++) for (let x = 0; x < bw - 1; x++) {
    const p = y * bw + x;
    across += (b[p + 1]! - b[p]!) ** 2;
    down += (b[p + bw]! - b[p]!) ** 2;
  }
  return Math.log(across / Math.max(down, 1e-9));
}
const names = ['mean R', 'mean G', 'mean B', 'sd R', 'sd G', 'sd B', 'mean saturation', 'sd saturation', 'mean value', 'sd value', 'near-white fraction', 'dark fraction',
  ...GRAD_EDGES.map((e, k) => `gradient ${k === 0 ? 0 : GRAD_EDGES[k - 1]}-${e}`), 'gradient >128',
  ...Array.from({ length: 9 }, (_, k) => `LBP uniform ${k}`), 'LBP non-uniform',
  ...ORIENTATION_SCALES.map((s) => `across / down contrast at ${s} px (log)`)];

/** LBP code -> bin: uniform patterns (at most 2 transitions) by their count of ones, the rest in bin 9. */
const LBP_BIN = Array.from({ length: 256 }, (_, code) => {
  let transitions = 0;
  for (let b = 0; b < 8; b++) if (((code >> b) & 1) !== ((code >> ((b + 1) % 8)) & 1)) transitions++;
  if (transitions > 2) return 9;
  let ones = 0;
  for (let b = 0; b < 8; b++) ones += (code >> b) & 1;
  return ones;
});

function features(img: RgbImage): number[] {
  const { width: w, height: h, data } = img;
  const n = w * h;
  const sum = [0, 0, 0], sq = [0, 0, 0];
  let sSum = 0, sSq = 0, vSum = 0, vSq = 0, white = 0, dark = 0;
  const grey = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const r = data[p * 3]!, g = data[p * 3 + 1]!, b = data[p * 3 + 2]!;
    sum[0] += r; sum[1] += g; sum[2] += b;
    sq[0] += r * r; sq[1] += g * g; sq[2] += b * b;
    const mx = Math.max(r, g, b), mn = Math.min(r, g, b);
    const s = mx === 0 ? 0 : (mx - mn) / mx, v = mx / 255;
    sSum += s; sSq += s * s; vSum += v; vSq += v * v;
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    grey[p] = y;
    if (y > 215 && s < 0.12) white++;
    if (y < 90) dark++;
  }
  const sd = (s: number, q: number) => Math.sqrt(Math.max(0, q / n - (s / n) ** 2));
  const grad = new Array(GRAD_EDGES.length + 1).fill(0);
  const lbp = new Array(10).fill(0);
  const at = (x: number, y: number) => grey[y * w + x]!;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      const m = Math.sqrt(gx * gx + gy * gy) / 4;
      let bin = 0;
      while (bin < GRAD_EDGES.length && m >= GRAD_EDGES[bin]!) bin++;
      grad[bin]++;
      const c = at(x, y);
      const ring = [at(x - 1, y - 1), at(x, y - 1), at(x + 1, y - 1), at(x + 1, y), at(x + 1, y + 1), at(x, y + 1), at(x - 1, y + 1), at(x - 1, y)];
      let code = 0;
      for (let b = 0; b < 8; b++) if (ring[b]! >= c) code |= 1 << b;
      lbp[LBP_BIN[code]!]++;
    }
  }
  const inner = (w - 2) * (h - 2);
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n, sd(sum[0]!, sq[0]!), sd(sum[1]!, sq[1]!), sd(sum[2]!, sq[2]!), sSum / n, sd(sSum, sSq), vSum / n, sd(vSum, vSq), white / n, dark / n,
    ...grad.map((g) => g / inner), ...lbp.map((l) => l / inner), ...ORIENTATION_SCALES.map((s) => acrossOverDown(grey, w, h, s))];
}

const realF = realImgs.map(features), synthF = synthImgs.map(features);

/** Feature groups for the linear test on each alone: which kind of statistic gives the synthetic tiles away. */
const GROUPS = { colour: [0, 12], gradient: [12, 20], LBP: [20, 30], orientation: [30, 33] } as const;
const groupCols = (g: keyof typeof GROUPS) => Array.from({ length: GROUPS[g][1] - GROUPS[g][0] }, (_, k) => GROUPS[g][0] + k);

// --- scanner statistics (printed, not fed to the tests) -------------------------------------
/**
 * What the pixel level of a tile looks like: how often a pixel's grey (integer 299 R + 587 G +
 * 114 B) equals its right or lower neighbour's, in tissue (grey < 200) and in bright areas
 * (glass, lumens), and the correlation of the fine texture (grey minus a Gaussian blur of sd
 * 1.5 px) with itself 1 and 2 px to the right and below, over tissue: a line-scan camera and
 * its JPEG leave the real tiles smoother down than across.
 */
function scannerStats(img: RgbImage): number[] {
  const { width: w, height: h, data } = img;
  const grey = new Int32Array(w * h);
  for (let p = 0; p < w * h; p++) grey[p] = 299 * data[p * 3]! + 587 * data[p * 3 + 1]! + 114 * data[p * 3 + 2]!;
  const ties = [0, 0, 0, 0]; // tissue ties, tissue pairs, bright ties, bright pairs
  for (let y = 0; y < h - 1; y++) for (let x = 0; x < w - 1; x++) {
    const p = y * w + x, bright = grey[p]! >= 200_000 ? 2 : 0;
    for (const q of [p + 1, p + w]) { ties[bright + 1]++; if (grey[q] === grey[p]) ties[bright]++; }
  }
  const fine = highPass(Float32Array.from(grey, (g) => g / 1000), w, h, 1.5);
  const corr = [[1, 0], [0, 1], [2, 0], [0, 2]].map(([dx, dy]) => {
    let sxy = 0, sxx = 0;
    for (let y = 5; y < h - 5; y++) for (let x = 5; x < w - 5; x++) {
      const p = y * w + x, q = (y + dy!) * w + x + dx!;
      if (grey[p]! >= 200_000 || grey[q]! >= 200_000) continue;
      sxy += fine[p]! * fine[q]!; sxx += fine[p]! * fine[p]!;
    }
    return sxx > 0 ? sxy / sxx : 0;
  });
  return [ties[0]! / Math.max(1, ties[1]!), ties[2]! / Math.max(1, ties[3]!), ...corr];
}
const SCANNER = ['equal-neighbour share, tissue', 'equal-neighbour share, bright areas', 'fine-texture correlation 1 px across', 'fine-texture correlation 1 px down', 'fine-texture correlation 2 px across', 'fine-texture correlation 2 px down'];

/** v minus its Gaussian blur (sd `sigma`, edges repeated). */
function highPass(v: Float32Array, w: number, h: number, sigma: number): Float32Array {
  const r = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const norm = k.reduce((a, b) => a + b, 0);
  const pass = (src: Float32Array, step: number, len: number, at: (p: number) => number) => {
    const out = new Float32Array(src.length);
    for (let p = 0; p < src.length; p++) {
      const i = at(p);
      let acc = 0;
      for (let t = -r; t <= r; t++) acc += k[t + r]! * src[p + (Math.min(len - 1, Math.max(0, i + t)) - i) * step]!;
      out[p] = acc / norm;
    }
    return out;
  };
  const blurred = pass(pass(v, 1, w, (p) => p % w), w, h, (p) => Math.floor(p / w));
  return v.map((x, p) => x - blurred[p]!);
}
const realScanner = realImgs.map(scannerStats), synthScanner = synthImgs.map(scannerStats);

// --- per-feature distances -----------------------------------------------------------------
function ks(a: number[], b: number[]): number {
  const xs = [...a, ...b].sort((p, q) => p - q);
  const sa = [...a].sort((p, q) => p - q), sb = [...b].sort((p, q) => p - q);
  let i = 0, j = 0, d = 0;
  for (const x of xs) {
    while (i < sa.length && sa[i]! <= x) i++;
    while (j < sb.length && sb[j]! <= x) j++;
    d = Math.max(d, Math.abs(i / sa.length - j / sb.length));
  }
  return d;
}
const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const sdOf = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
const distances = names.map((name, f) => {
  const a = realF.map((r) => r[f]!), b = synthF.map((r) => r[f]!);
  const sa = sdOf(a), sb = sdOf(b);
  const pooled = Math.sqrt((sa ** 2 + sb ** 2) / 2) || 1;
  return { name, real: mean(a), synth: mean(b), ks: ks(a, b), smd: (mean(b) - mean(a)) / pooled, spread: sb / (sa || 1) };
}).sort((p, q) => q.ks - p.ks);

// --- the two-sample tests -----------------------------------------------------------------
interface Split { train: number[]; test: number[] }
/** A random half of each side trains, the other half tests (indices into real ++ synthetic). */
function split(seed: number): Split {
  const rng = Rng.of(seed, 0x5eed);
  const half = (n: number, offset: number) => {
    const idx = Array.from({ length: n }, (_, k) => k + offset);
    for (let k = n - 1; k > 0; k--) { const j = rng.int(0, k); [idx[k], idx[j]] = [idx[j]!, idx[k]!]; }
    return [idx.slice(0, n >> 1), idx.slice(n >> 1)] as const;
  };
  const [rTrain, rTest] = half(realF.length, 0), [sTrain, sTest] = half(synthF.length, realF.length);
  return { train: [...rTrain, ...sTrain], test: [...rTest, ...sTest] };
}
const allF = [...realF, ...synthF];
const label = (k: number) => (k < realF.length ? 0 : 1);
const accuracy = (scores: number[], idx: number[]) => idx.filter((k, i) => (scores[i]! > 0.5 ? 1 : 0) === label(k)).length / idx.length;
/**
 * The area under the ROC curve of the scores (the chance that a real tile scores above a synthetic
 * one, ties half): unlike the accuracy at 0.5 it does not fall to 50% when a run's scores all
 * land on one side of 0.5 while still ranking the tiles.
 */
function auc(scores: number[], idx: number[]): number {
  let pairs = 0, above = 0;
  idx.forEach((k, i) => idx.forEach((l, j) => {
    if (label(k) !== 1 || label(l) !== 0) return;
    pairs++;
    above += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
  }));
  return above / pairs;
}

/** Logistic regression on the standardised features `cols` (default: all of them). */
function linearTest(s: Split, cols: number[] = names.map((_, f) => f)): number {
  const dims = cols.length;
  const mu = cols.map((f) => mean(s.train.map((k) => allF[k]![f]!)));
  const sigma = cols.map((f) => sdOf(s.train.map((k) => allF[k]![f]!)) || 1);
  const x = (k: number) => cols.map((f, i) => (allF[k]![f]! - mu[i]!) / sigma[i]!);
  const w = new Array(dims).fill(0);
  let b = 0;
  const lr = 0.1, l2 = 1e-3;
  for (let it = 0; it < 2000; it++) {
    const gw = new Array(dims).fill(0);
    let gb = 0;
    for (const k of s.train) {
      const xi = x(k);
      const p = 1 / (1 + Math.exp(-(xi.reduce((a, v, f) => a + v * w[f], b))));
      const e = p - label(k);
      for (let f = 0; f < dims; f++) gw[f] += e * xi[f]!;
      gb += e;
    }
    for (let f = 0; f < dims; f++) w[f] -= lr * (gw[f] / s.train.length + l2 * w[f]);
    b -= lr * gb / s.train.length;
  }
  return accuracy(s.test.map((k) => 1 / (1 + Math.exp(-(x(k).reduce((a, v, f) => a + v * w[f], b))))), s.test);
}

const CROP = 128;
const allImgs = [...realImgs, ...synthImgs];
function crop(img: RgbImage, x0: number, y0: number, out: Float32Array, at: number): void {
  for (let y = 0; y < CROP; y++) for (let x = 0; x < CROP; x++) for (let c = 0; c < 3; c++) out[at + (y * CROP + x) * 3 + c] = img.data[((y0 + y) * img.width + x0 + x) * 3 + c]! / 255;
}

async function cnnTest(s: Split, seed: number): Promise<{ accuracy: number; auc: number }> {
  const rng = Rng.of(seed, 0xc2a);
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [CROP, CROP, 3], filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed }) }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed + 1 }) }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed + 2 }) }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
  const per = 4;
  for (let e = 0; e < epochs; e++) {
    const n = s.train.length * per;
    const xs = new Float32Array(n * CROP * CROP * 3), ys = new Float32Array(n);
    const order = s.train.flatMap((k) => Array.from({ length: per }, () => k));
    for (let k = order.length - 1; k > 0; k--) { const j = rng.int(0, k); [order[k], order[j]] = [order[j]!, order[k]!]; }
    order.forEach((k, i) => {
      const img = allImgs[k]!;
      crop(img, rng.int(0, img.width - CROP), rng.int(0, img.height - CROP), xs, i * CROP * CROP * 3);
      ys[i] = label(k);
    });
    const x = tf.tensor4d(xs, [n, CROP, CROP, 3]), y = tf.tensor2d(ys, [n, 1]);
    await model.fit(x, y, { batchSize: 16, epochs: 1, shuffle: false, verbose: 0 });
    x.dispose(); y.dispose();
  }
  const scores: number[] = [];
  for (const k of s.test) {
    const img = allImgs[k]!;
    const side = Math.floor(img.width / CROP);
    const xs = new Float32Array(side * side * CROP * CROP * 3);
    for (let gy = 0; gy < side; gy++) for (let gx = 0; gx < side; gx++) crop(img, gx * CROP, gy * CROP, xs, (gy * side + gx) * CROP * CROP * 3);
    const p = tf.tidy(() => (model.predict(tf.tensor4d(xs, [side * side, CROP, CROP, 3])) as tf.Tensor).mean());
    scores.push((await p.data())[0]!);
    p.dispose();
  }
  model.dispose();
  return { accuracy: accuracy(scores, s.test), auc: auc(scores, s.test) };
}

await setupBackend('auto', { quiet: true });
const results: { seed: number; linear: number; cnn: number; cnnAuc: number; groups: Record<keyof typeof GROUPS, number> }[] = [];
for (const seed of seeds) {
  const s = split(seed);
  const t0 = performance.now();
  const linear = linearTest(s);
  const groups = { colour: linearTest(s, groupCols('colour')), gradient: linearTest(s, groupCols('gradient')), LBP: linearTest(s, groupCols('LBP')), orientation: linearTest(s, groupCols('orientation')) };
  const { accuracy: cnn, auc: cnnAuc } = await cnnTest(s, seed);
  results.push({ seed, linear, cnn, cnnAuc, groups });
  console.log(`seed ${seed}: held-out accuracy, linear on features ${(linear * 100).toFixed(1)}%, CNN on crops ${(cnn * 100).toFixed(1)}%, AUC ${cnnAuc.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
const summary = (key: 'linear' | 'cnn' | 'cnnAuc' | keyof typeof GROUPS) => {
  const v = results.map((r) => (key === 'linear' || key === 'cnn' || key === 'cnnAuc' ? r[key] : r.groups[key]));
  return `${(mean(v) * 100).toFixed(1)}% (sd ${(sdOf(v) * 100).toFixed(1)}, ${v.map((a) => (a * 100).toFixed(1)).join(' / ')})`;
};
console.log(`\ntwo-sample accuracy over seeds ${seeds.join(',')} (50% = indistinguishable): linear ${summary('linear')}; CNN ${summary('cnn')}; CNN's AUC (0.5 = indistinguishable) ${summary('cnnAuc')}`);
console.log(`linear on each feature group alone: colour ${summary('colour')}; gradient ${summary('gradient')}; LBP ${summary('LBP')}; orientation ${summary('orientation')}\n`);
console.log('| feature | real mean | synthetic mean | KS | standardised mean difference | sd synthetic / sd real |');
console.log('|---|---|---|---|---|---|');
for (const d of distances) console.log(`| ${d.name} | ${d.real.toFixed(4)} | ${d.synth.toFixed(4)} | ${d.ks.toFixed(3)} | ${d.smd >= 0 ? '+' : ''}${d.smd.toFixed(2)} | ${d.spread.toFixed(2)} |`);
console.log('\n| scanner statistic (median over tiles) | real | synthetic |');
console.log('|---|---|---|');
const median = (v: number[]) => { const o = [...v].sort((a, b) => a - b); return o.length % 2 ? o[o.length >> 1]! : (o[o.length / 2 - 1]! + o[o.length / 2]!) / 2; };
const scanner = SCANNER.map((name, i) => ({ name, real: median(realScanner.map((r) => r[i]!)), synth: median(synthScanner.map((r) => r[i]!)) }));
for (const st of scanner) console.log(`| ${st.name} | ${st.real.toFixed(3)} | ${st.synth.toFixed(3)} |`);

// --- structure scale (printed): how big the tissue's structures are --------------------------
/**
 * The share of a tile's grey-level variance in each octave of a box pyramid: the mean square
 * of (box mean over s px) minus (box mean over 2s px), for s = 8 .. 128, over the five octaves'
 * sum. Tubules and their lumens put their energy where their size is (a cheap stand-in for the
 * radially averaged power spectrum: the same ordering on these tiles, scratch).
 */
const OCTAVES = [8, 16, 32, 64, 128];
function octaveShares(img: RgbImage): number[] {
  const { width: w, height: h, data } = img;
  // Integral image of the grey level, (w + 1) x (h + 1).
  const sum = new Float64Array((w + 1) * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      row += (data[p * 3]! + data[p * 3 + 1]! + data[p * 3 + 2]!) / 3;
      sum[(y + 1) * (w + 1) + x + 1] = sum[y * (w + 1) + x + 1]! + row;
    }
  }
  /** Mean grey of the s x s box centred on (x, y), clipped to the tile. */
  const box = (x: number, y: number, s: number) => {
    const x0 = Math.max(0, x - (s >> 1)), y0 = Math.max(0, y - (s >> 1)), x1 = Math.min(w, x0 + s), y1 = Math.min(h, y0 + s);
    return (sum[y1 * (w + 1) + x1]! - sum[y0 * (w + 1) + x1]! - sum[y1 * (w + 1) + x0]! + sum[y0 * (w + 1) + x0]!) / ((x1 - x0) * (y1 - y0));
  };
  // Box means at 8 .. 256 px on a 4 px grid, each computed once: octave i is level i minus level i + 1.
  const levels = [...OCTAVES, 2 * OCTAVES.at(-1)!].map((s) => {
    const at: number[] = [];
    for (let y = 2; y < h; y += 4) for (let x = 2; x < w; x += 4) at.push(box(x, y, s));
    return at;
  });
  const energy = OCTAVES.map((_, i) => {
    let e = 0;
    levels[i]!.forEach((v, q) => { e += (v - levels[i + 1]![q]!) ** 2; });
    return e / levels[i]!.length;
  });
  const total = energy.reduce((a, b) => a + b, 0);
  return energy.map((e) => e / Math.max(total, 1e-9));
}
const realOctaves = realImgs.map(octaveShares), synthOctaves = synthImgs.map(octaveShares);
const scales = OCTAVES.map((s, i) => ({ name: `${s}-${2 * s} px`, real: mean(realOctaves.map((o) => o[i]!)), synth: mean(synthOctaves.map((o) => o[i]!)) }));
console.log('\n| structure scale: share of the grey variance in the octave (mean over tiles) | real | synthetic |');
console.log('|---|---|---|');
for (const st of scales) console.log(`| ${st.name} | ${st.real.toFixed(3)} | ${st.synth.toFixed(3)} |`);

// --- composition (printed): bare glass ----------------------------------------------------------
/** Per tile: the share of it that is glass and the glass's summed RGB. */
function glassOf(img: RgbImage): { share: number; pixels: number; sum: [number, number, number] } {
  const { pixels, sum } = glassStats(img.data, img.width, img.height);
  return { share: pixels / (img.width * img.height), pixels, sum };
}
function composition(imgs: readonly RgbImage[]) {
  const tiles = imgs.map(glassOf);
  const pixels = tiles.reduce((s, t) => s + t.pixels, 0);
  return {
    glass: mean(tiles.map((t) => t.share)),
    over5: tiles.filter((t) => t.share > 0.05).length / tiles.length,
    over20: tiles.filter((t) => t.share > 0.2).length / tiles.length,
    colour: [0, 1, 2].map((c) => tiles.reduce((s, t) => s + t.sum[c]!, 0) / Math.max(pixels, 1)),
  };
}
const comp = { real: composition(realImgs), synth: composition(synthImgs) };
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
console.log('\n| composition | real | synthetic |');
console.log('|---|---|---|');
console.log(`| bare glass, share of the area | ${pct(comp.real.glass)} | ${pct(comp.synth.glass)} |`);
console.log(`| tiles over 5% / 20% glass | ${pct(comp.real.over5)} / ${pct(comp.real.over20)} | ${pct(comp.synth.over5)} / ${pct(comp.synth.over20)} |`);
console.log(`| glass colour (mean RGB) | ${comp.real.colour.map((v) => v.toFixed(1)).join(', ')} | ${comp.synth.colour.map((v) => v.toFixed(1)).join(', ')} |`);

// --- vessel outlines (printed): are they taller than wide? ------------------------------------
/**
 * Over the whole vessel outlines (no vertex on the tile's edge, at least 8 vertices): the
 * median of var(y) / var(x) of their vertices and the share taller than wide. The real side is
 * the 85 expert-labelled reference tiles (the 218 real tiles carry no labels), the synthetic
 * side every true outline (dataset-1 labels, the hidden truth of datasets 2 and 3).
 */
function outlineShape(tiles: Iterable<Annotation[]>): { outlines: number; median: number; taller: number } {
  const ratios: number[] = [];
  for (const annotations of tiles) {
    for (const a of annotations) {
      const ring = a.coordinates[0]!;
      if (a.type !== 'blood_vessel' || ring.length < 8 || ring.some(([x, y]) => x <= 0 || y <= 0 || x >= 511 || y >= 511)) continue;
      const mx = mean(ring.map((p) => p[0])), my = mean(ring.map((p) => p[1]));
      ratios.push(mean(ring.map((p) => (p[1] - my) ** 2)) / mean(ring.map((p) => (p[0] - mx) ** 2)));
    }
  }
  return { outlines: ratios.length, median: median(ratios), taller: ratios.filter((r) => r > 1).length / ratios.length };
}
const expertTiles = new Set(synth.tiles.filter((t) => t.dataset === 1).map((t) => t.id));
const expertLabels = [...synth.labels].filter(([id]) => expertTiles.has(id)).map(([, a]) => a);
const hiddenTruth = [...((await loadHiddenTruth(synthDir)) ?? new Map<string, Annotation[]>()).values()];
const outlines = {
  real: outlineShape((await readReferenceMaterial()).vessels.map((t) => t.annotations)),
  synth: outlineShape([...expertLabels, ...hiddenTruth]),
};
console.log(`\nwhole vessel outlines, median var(y) / var(x) and share taller than wide: real (the 85 reference tiles) ${outlines.real.median.toFixed(2)}, ${(outlines.real.taller * 100).toFixed(0)}% of ${outlines.real.outlines}; synthetic (expert labels and hidden truth) ${outlines.synth.median.toFixed(2)}, ${(outlines.synth.taller * 100).toFixed(0)}% of ${outlines.synth.outlines}`);
const report = join(work, given ? `realism-${basename(synthDir)}.json` : `realism-${synthSeed}${variant}.json`);
// Per-tile features too, so that other tests (feature subsets, other classifiers) can be run on them.
const tiles = { names, real: realF, synthetic: synthF };
await writeFile(report, JSON.stringify({ real: realDir, ...(given ? { synthetic: synthDir } : { synthSeed, appearance }), seeds, epochs, results, distances, scanner, scales, composition: comp, outlines, tiles }));
console.log(`\nwrote ${report}`);
