/**
 * npm run bench:slide -- --weights W [--size 16384] [--big 50000] [--work DIR] [--skip-big]
 *
 * Whole-slide throughput of `vascseg slide` on this machine:
 *   1. a synthetic slide of --size px (`synth --slide`: all tissue), predicted by `vascseg slide`
 *      in a child process (so its peak RSS is its own): tissue megapixels per second, windows
 *      per second, the share of each step (read, network, finish, merge, write), peak RSS;
 *      at slide's default conf 0.25; then an --ap-size px slide (default 4096) at conf 0.001, once
 *      joined across seams and once as 512 px tiles without overlap (tile-wise, as `predict`),
 *      both scored against its truth over the slide as one image (AP@0.6);
 *   2. the same windows' network + finishing work alone (as `predict` does it per tile, windows
 *      already in memory), interleaved with nothing: the ratio says what reading and merging
 *      add on top of tile-wise prediction;
 *   3. a --big px slide that is mostly glass (a few tissue patches from slide 1 pasted on white,
 *      written as a tiled pyramidal TIFF by libvips, never held in memory): what background
 *      costs, and the peak RSS of a slide far larger than memory would allow to decode.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { setupBackend } from '../src/engine/backend.ts';
import { FinishPool } from '../src/infer/finish-pool.ts';
import { DEFAULT_PREDICT, runTile } from '../src/infer/predict.ts';
import { openRuntime } from '../src/infer/runtime.ts';
import { openSlide, readRegion } from '../src/slide/reader.ts';
import { windowGrid } from '../src/slide/windows.ts';
import { rasterize, type Point } from '../src/data/rasterize.ts';
import { toRegion, type GroundTruthTile } from '../src/eval/groundtruth.ts';
import { evaluateOid } from '../src/eval/metric.ts';
import { encodeWindow, rleFromString, type Rle } from '../src/eval/rle.ts';
import { appearanceSchema } from '../src/synth/config.ts';
import { renderSlide } from '../src/synth/slide.ts';
import { flagReader } from './flags.ts';

const flag = flagReader('bench/slide.ts');
const weights = resolve(flag('--weights'));
const size = Number(flag('--size', '16384'));
const big = Number(flag('--big', '50000'));
const work = resolve(flag('--work', join('runs', 'bench', 'slide')));
await mkdir(work, { recursive: true });

/** The truth GeoJSON's objects as slide-size RLEs, each filled in its own box (a full-size mask per object would not fit). */
function truthRegions(json: { features: { geometry: { type: string; coordinates: unknown }; properties: { classification: { name: string } } }[] }, side: number): { className: string; rle: Rle }[] {
  return json.features.map((f) => {
    const polygons = (f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates) as Point[][][];
    const rings = polygons.flat().map((r) => r.slice(0, -1));
    const xs = rings.flat().map((p) => p[0]), ys = rings.flat().map((p) => p[1]);
    const x0 = Math.max(0, Math.floor(Math.min(...xs))), y0 = Math.max(0, Math.floor(Math.min(...ys)));
    const w = Math.min(side, Math.ceil(Math.max(...xs)) + 1) - x0, h = Math.min(side, Math.ceil(Math.max(...ys)) + 1) - y0;
    const mask = rasterize(rings.map((r) => r.map(([x, y]) => [x - x0, y - y0] as Point)), w, h);
    return { className: f.properties.classification.name, rle: encodeWindow(mask, x0, y0, w, h, side, side) };
  });
}

function vascseg(argv: string[]): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('close', (code) => (code === 0 ? done(out) : fail(new Error(`vascseg ${argv[0]} exited ${code}`))));
  });
}

interface Summary { seconds: number; seconds_by_step: Record<string, number>; peak_rss_mb: number; tissue: { area_mm2: number }; analysis: { windows: number; predicted: number }; vessels: { count: number } }

async function slideRun(image: string, name: string, extra: string[] = []): Promise<Summary> {
  const out = join(work, name);
  await vascseg(['slide', '--weights', weights, '--image', image, '--out', out, ...extra]);
  return JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as Summary;
}

function report(label: string, s: Summary, mpp = 0.5): void {
  const tissueMpx = s.tissue.area_mm2 / (mpp / 1000) ** 2 / 1e6;
  const steps = Object.entries(s.seconds_by_step).map(([k, v]) => `${k} ${((100 * v) / s.seconds).toFixed(0)}%`).join(', ');
  console.log(`${label}: ${s.analysis.predicted}/${s.analysis.windows} windows with tissue, ${s.vessels.count} vessels in ${s.seconds.toFixed(1)} s: ${(tissueMpx / s.seconds).toFixed(2)} tissue Mpx/s, ${(s.analysis.predicted / s.seconds).toFixed(2)} windows/s; ${steps}; peak RSS ${s.peak_rss_mb.toFixed(0)} MB`);
}

// 1. The all-tissue slide.
const slide = join(work, `synthetic-${size}.tif`);
if (!existsSync(slide)) {
  const t = performance.now();
  await renderSlide({ seed: 0, size, wsi: 1, appearance: appearanceSchema.parse({}), mpp: 0.5 }, slide, slide.replace(/\.tif$/, '.truth.geojson'));
  console.log(`rendered ${slide} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const s1 = await slideRun(slide, `out-${size}`, ['--tissue', 'none']);
report(`${size} x ${size} synthetic slide`, s1);

// 1b. Seams: the same slide as 512 px tiles without overlap (what tile-wise predict gives: a vessel
// cut by a tile border in pieces), both scored against the slide's truth as one image (AP@0.6).
// At conf 0.001 (the whole ranking, as the competition scores), on a --ap-size slide.
const apSize = Number(flag('--ap-size', '4096'));
const apSlide = join(work, `synthetic-ap-${apSize}.tif`);
if (!existsSync(apSlide)) await renderSlide({ seed: 1, size: apSize, wsi: 1, appearance: appearanceSchema.parse({}), mpp: 0.5 }, apSlide, apSlide.replace(/\.tif$/, '.truth.geojson'));
const sJoined = await slideRun(apSlide, `out-ap-${apSize}`, ['--tissue', 'none', '--conf', '0.001']);
const s0 = await slideRun(apSlide, `out-ap-${apSize}-tiles`, ['--tissue', 'none', '--overlap', '0', '--conf', '0.001']);
const truth = truthRegions(JSON.parse(await readFile(apSlide.replace(/\.tif$/, '.truth.geojson'), 'utf8')), apSize);
const gt = new Map<string, GroundTruthTile>([['slide', {
  id: 'slide', height: apSize, width: apSize,
  vessels: truth.filter((t) => t.className === 'blood_vessel').map((t) => toRegion(t.rle)),
  unsure: truth.filter((t) => t.className === 'unsure').map((t) => toRegion(t.rle)),
  glomeruli: truth.filter((t) => t.className === 'glomerulus').map((t) => toRegion(t.rle)),
}]]);
const slideAp = async (name: string) => {
  const coco = JSON.parse(await readFile(join(work, name, 'vessels.coco.json'), 'utf8')) as { score: number; segmentation: { counts: string } }[];
  return evaluateOid(gt, new Map([['slide', coco.map((c) => ({ score: c.score, rle: rleFromString(c.segmentation.counts, apSize, apSize) }))]])).ap;
};
console.log(`AP@0.6 over a ${apSize} px slide as one image (conf 0.001): windows joined across seams ${(await slideAp(`out-ap-${apSize}`)).toFixed(4)} (${sJoined.vessels.count} vessels), 512 px tiles without overlap ${(await slideAp(`out-ap-${apSize}-tiles`)).toFixed(4)} (${s0.vessels.count})`);

// 2. The same kind of windows, as predict would run them: in memory, network and finishing only.
await setupBackend('wasm', { quiet: true });
const runtime = await openRuntime(weights, 'onnx', { threads: 1 });
const opts = { ...DEFAULT_PREDICT, imgsz: runtime.imgsz, conf: 0.25 }; // slide's default
const src = await openSlide(slide);
const { windows } = windowGrid(src.width, src.height, 512, 128);
const sample = windows.filter((_, k) => k % Math.max(1, Math.floor(windows.length / 48)) === 0).slice(0, 48);
const images = await Promise.all(sample.map((w) => readRegion(src, 1, w.x, w.y, 512, 512)));
const pool = new FinishPool(1);
const t0 = performance.now();
const inflight: Promise<unknown>[] = [];
for (const image of images) {
  inflight.push(pool.finish(await runTile([runtime], image, opts), opts));
  if (inflight.length > 1) await inflight.shift();
}
await Promise.all(inflight);
const tileRate = images.length / ((performance.now() - t0) / 1000);
await pool.close();
await runtime.dispose();
const slideRate = s1.analysis.predicted / s1.seconds;
console.log(`predict's work alone on ${images.length} of its windows: ${tileRate.toFixed(2)} windows/s; the slide run ${slideRate.toFixed(2)} windows/s: reading, merging and writing add ${((tileRate / slideRate - 1) * 100).toFixed(0)}%`);

// 3. A big slide that is mostly glass, built by libvips without holding it.
if (!process.argv.includes('--skip-big')) {
  const bigFile = join(work, `glass-${big}.tif`);
  if (!existsSync(bigFile)) {
    const t = performance.now();
    const patch = await sharp(slide, { limitInputPixels: false }).extract({ left: 0, top: 0, width: 2048, height: 2048 }).png().toBuffer();
    const spots = [[0.2, 0.2], [0.6, 0.3], [0.4, 0.7], [0.8, 0.8]].map(([fx, fy]) => ({ input: patch, left: Math.floor(fx! * (big - 2048)), top: Math.floor(fy! * (big - 2048)) }));
    await sharp({ create: { width: big, height: big, channels: 3, background: { r: 244, g: 244, b: 246 } }, limitInputPixels: false })
      .composite(spots)
      .tiff({ tile: true, tileWidth: 512, tileHeight: 512, pyramid: true, compression: 'deflate', xres: 2000, yres: 2000, resolutionUnit: 'cm' })
      .toFile(bigFile);
    console.log(`built ${bigFile} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  }
  const s3 = await slideRun(bigFile, `out-glass-${big}`);
  report(`${big} x ${big} slide, mostly glass`, s3);
}
