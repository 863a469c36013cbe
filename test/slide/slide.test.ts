import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodeWindow, rleFromString, rleIntersection, rleIou, rleArea, type Rle } from '../../src/eval/rle.ts';
import { fromGeoJson } from '../../src/eval/export.ts';
import { evaluateOid } from '../../src/eval/metric.ts';
import { toRegion, type GroundTruthTile } from '../../src/eval/groundtruth.ts';
import type { Prediction } from '../../src/infer/predict.ts';
import { mergeAcrossSeams, ownInstances, type SlideInstance } from '../../src/slide/merge.ts';
import { windowGrid, windowStarts, type SlideWindow } from '../../src/slide/windows.ts';
import { renderSlide, type SlideTruth } from '../../src/synth/slide.ts';
import { appearanceSchema } from '../../src/synth/config.ts';
import { setupBackend } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { saveCheckpoint } from '../../src/model/checkpoint.ts';
import { train, DEFAULT_TRAIN } from '../../src/train/trainer.ts';
import { NO_AUGMENT } from '../../src/train/data.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { presetConfig } from '../../src/synth/config.ts';
import { startCli, vascseg, vascsegWith } from '../helpers/cli.ts';
import { startRedis } from '../helpers/redis.ts';
import { tempDir } from '../helpers/tmp.ts';

const root = await tempDir('vascseg-slide-');
const TILE = 512;

test('the window cores tile the slide: every pixel belongs to exactly one core', () => {
  for (const [w, h, overlap] of [[300, 200, 128], [512, 512, 128], [1000, 1537, 128], [2048, 1100, 0], [1600, 900, 200]] as const) {
    const { windows } = windowGrid(w, h, TILE, overlap);
    const owners = new Uint8Array(w * h);
    for (const win of windows) {
      const [x0, y0, x1, y1] = win.core;
      // A core lies inside its window, and the windows start inside the slide.
      assert.ok(x0 >= win.x && y0 >= win.y && (x1 <= win.x + TILE || x1 === w) && (y1 <= win.y + TILE || y1 === h), `core ${win.core} of window at ${win.x},${win.y}`);
      for (let y = y0; y < Math.min(y1, h); y++) for (let x = x0; x < Math.min(x1, w); x++) owners[y * w + x]!++;
    }
    const wrong = owners.findIndex((n) => n !== 1);
    assert.equal(wrong, -1, `${w}x${h} overlap ${overlap}: pixel ${wrong % w},${Math.floor(wrong / w)} is in ${owners[wrong]} cores`);
  }
  assert.deepEqual(windowStarts(1000, 512, 128), [0, 384, 488]);
  assert.throws(() => windowStarts(1000, 512, 512), /--overlap/);
});

/** What a perfect model would say in a window: each object's pixels inside the window, as tile RLEs. */
function oraclePredictions(objects: readonly SlideTruth[], win: SlideWindow, slideW: number, slideH: number): Prediction[] {
  const out: Prediction[] = [];
  objects.forEach((o, k) => {
    const x0 = Math.max(o.x, win.x), y0 = Math.max(o.y, win.y), x1 = Math.min(o.x + o.w, win.x + TILE, slideW), y1 = Math.min(o.y + o.h, win.y + TILE, slideH);
    if (x1 <= x0 || y1 <= y0) return;
    const w = x1 - x0, h = y1 - y0;
    const m = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = o.mask[(y0 + y - o.y) * o.w + (x0 + x - o.x)]!;
    if (!m.some((v) => v)) return;
    out.push({ score: 0.5 + (k % 50) / 100, box: [x0 - win.x, y0 - win.y, x1 - win.x, y1 - win.y], rle: encodeWindow(m, x0 - win.x, y0 - win.y, w, h, TILE, TILE), source: 'oracle' });
  });
  return out;
}

/** The slide-wide RLE of an instance or a true object. */
const slideRle = (a: { x: number; y: number; w: number; h: number; mask: Uint8Array }, w: number, h: number): Rle => encodeWindow(a.mask, a.x, a.y, a.w, a.h, w, h);

/** For each object: how many predicted instances are pieces of it (mostly inside it), and its best IoU. */
function fragments(objects: readonly SlideTruth[], instances: readonly SlideInstance[], w: number, h: number): { pieces: number[]; iou: number[] } {
  const inst = instances.map((a) => slideRle(a, w, h));
  return objects.reduce((acc, o) => {
    const r = slideRle(o, w, h);
    acc.pieces.push(inst.filter((q) => rleIntersection(r, q) * 2 > rleArea(q)).length);
    acc.iou.push(Math.max(0, ...inst.map((q) => rleIou(r, q))));
    return acc;
  }, { pieces: [] as number[], iou: [] as number[] });
}

/** Tile-wise prediction as `predict` does it: 512 px tiles without overlap, every piece kept. */
function tileWise(objects: readonly SlideTruth[], w: number, h: number): SlideInstance[] {
  const { windows } = windowGrid(w, h, TILE, 0);
  return windows.flatMap((win) => ownInstances(oraclePredictions(objects, win, w, h), { ...win, core: [win.x, win.y, win.x + TILE, win.y + TILE] }, TILE, w, h));
}

function slideMerge(objects: readonly SlideTruth[], w: number, h: number, overlap = 128): SlideInstance[] {
  const { windows } = windowGrid(w, h, TILE, overlap);
  return mergeAcrossSeams(windows.flatMap((win) => ownInstances(oraclePredictions(objects, win, w, h), win, TILE, w, h)), windows, TILE);
}

function disk(cx: number, cy: number, r: number): SlideTruth {
  const x = cx - r, y = cy - r, d = 2 * r + 1;
  const mask = new Uint8Array(d * d);
  for (let yy = 0; yy < d; yy++) for (let xx = 0; xx < d; xx++) if ((xx - r) ** 2 + (yy - r) ** 2 <= r * r) mask[yy * d + xx] = 1;
  return { type: 'blood_vessel', x, y, w: d, h: d, mask };
}

test('seams: vessels across vertical, horizontal and diagonal seams and at four-window corners come out once, whole', () => {
  const size = 1400;
  const { windows } = windowGrid(size, size, TILE, 128);
  const b = windows[0]!.core[2]; // the first core boundary (x and y alike)
  const b2 = windows.find((w) => w.col === 2)!.core[0];
  const objects = [
    disk(b, 150, 30), disk(b, 300, 90), // across a vertical seam, small and larger than the overlap
    disk(60, b, 30), disk(200, b + 40, 100), // across a horizontal seam
    disk(b, b, 25), disk(b2, b, 140), // on corners where four windows meet (one larger than a window's margin)
    disk(b + 40, b + 90, 45), // near a corner, off-centre
    disk(700, 700, 20), // inside one core
    disk(b2, 1220, 170), // wider than the overlap, across a seam near the slide's edge
  ];
  // The test's vessels do not touch one another.
  objects.forEach((a, i) => objects.slice(i + 1).forEach((o) => assert.equal(rleIntersection(slideRle(a, size, size), slideRle(o, size, size)), 0)));
  const merged = fragments(objects, slideMerge(objects, size, size), size, size);
  assert.deepEqual(merged.pieces, objects.map(() => 1), `pieces per vessel with seam merging: ${merged.pieces}`);
  assert.ok(merged.iou.every((v) => v === 1), `IoU with the truth: ${merged.iou}`);
  const tiles = fragments(objects, tileWise(objects, size, size), size, size);
  assert.ok(tiles.pieces.filter((n) => n > 1).length >= 5, `tile-wise fragments: ${tiles.pieces}`);
});

test('a rendered slide: every true vessel comes out once, and the slide AP beats tile-wise prediction', async () => {
  const size = 1536;
  const { truth } = await renderSlide({ seed: 2, size, wsi: 1, appearance: appearanceSchema.parse({}), mpp: 0.5 }, join(root, 'render.tif'), join(root, 'render.truth.geojson'));
  const vessels = truth.filter((t) => t.type === 'blood_vessel');
  assert.ok(vessels.length > 30, `${vessels.length} vessels`);
  // The oracle sees the vessels (other objects may overlap them and would count as pieces).
  const merged = slideMerge(vessels, size, size);
  const slide = fragments(vessels, merged, size, size);
  const tiles = fragments(vessels, tileWise(vessels, size, size), size, size);
  const crossing = tiles.pieces.filter((n) => n > 1).length;
  assert.ok(crossing >= 5, `${crossing} vessels cut by tile borders`);
  assert.equal(slide.pieces.filter((n) => n !== 1).length, 0, `pieces per vessel: ${slide.pieces}`);
  assert.ok(slide.iou.every((v) => v === 1));
  // The competition metric over the slide as one image.
  const gt = new Map<string, GroundTruthTile>([['slide', {
    id: 'slide', height: size, width: size, vessels: vessels.map((v) => toRegion(slideRle(v, size, size))),
    unsure: truth.filter((t) => t.type === 'unsure').map((v) => toRegion(slideRle(v, size, size))), glomeruli: truth.filter((t) => t.type === 'glomerulus').map((v) => toRegion(slideRle(v, size, size))),
  }]]);
  const ap = (instances: SlideInstance[]) => evaluateOid(gt, new Map([['slide', instances.map((a) => ({ score: a.score, rle: slideRle(a, size, size) }))]])).ap;
  const slideAp = ap(merged), tileAp = ap(tileWise(vessels, size, size));
  assert.ok(slideAp > 0.999, `slide AP ${slideAp}`);
  assert.ok(tileAp < slideAp, `tile-wise AP ${tileAp} vs slide ${slideAp}`);
});

const slideFile = join(root, 'slide.tif');
const weights = join(root, 'runs', 'tiny', 'weights', 'last');
before(async () => {
  await setupBackend('wasm', { quiet: true });
  // A tiny model trained briefly on tiles of the same synthetic world: enough to find vessels.
  await generateDataset(presetConfig('tiny', 5), join(root, 'tiny'), { workers: 0 });
  await train({ ...DEFAULT_TRAIN, data: join(root, 'tiny'), name: 'tiny', project: join(root, 'runs'), imgsz: 128, epochs: 40, batch: 3, optimizer: 'adamw', lr0: 0.003, augment: NO_AUGMENT, valInterval: 40, preciseBn: 2 });
  await renderSlide({ seed: 5, size: 1100, wsi: 2, appearance: appearanceSchema.parse({}), mpp: 0.5 }, slideFile, join(root, 'slide.truth.geojson'));
});

const slideArgs = (image: string, out: string, ...extra: string[]) => ['slide', '--weights', weights, '--image', image, '--out', out, '--imgsz', '128', '--max-det', '60', '--conf', '0.01', ...extra];
const outputs = ['vessels.geojson', 'vessels.coco.json', 'vessels.csv', 'overview.png'];

test('vascseg slide: QuPath GeoJSON, COCO, CSV and overview; killed mid-slide, a rerun continues and writes the same files', async () => {
  const straight = join(root, 'straight');
  const r = await vascseg(...slideArgs(slideFile, straight));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /vessels \(.* per mm\^2 of .* mm\^2 tissue\) in .* s, peak RSS \d+ MB/);
  const summary = JSON.parse(await readFile(join(straight, 'summary.json'), 'utf8'));
  assert.equal(summary.analysis.windows, 9);
  assert.equal(summary.level0.mpp, 0.5);
  assert.ok(summary.vessels.count > 0, `${summary.vessels.count} vessels: ${r.stdout}`);
  // GeoJSON: detections in level-0 pixels, read back by our reader, equal to the COCO masks.
  const geo = JSON.parse(await readFile(join(straight, 'vessels.geojson'), 'utf8'));
  assert.equal(geo.type, 'FeatureCollection');
  assert.equal(geo.features.length, summary.vessels.count);
  const f0 = geo.features[0];
  assert.equal(f0.properties.objectType, 'detection');
  assert.equal(f0.properties.classification.name, 'blood_vessel');
  assert.ok(typeof f0.properties.measurements['Area µm^2'] === 'number');
  const back = fromGeoJson(geo, 1100, 1100);
  const coco = JSON.parse(await readFile(join(straight, 'vessels.coco.json'), 'utf8')) as { segmentation: { counts: string; size: [number, number] }; score: number }[];
  assert.equal(coco.length, back.length);
  // Outlines carry no holes: a GeoJSON vessel is its COCO mask with any holes filled, so it
  // covers the mask exactly and differs only where a mask has a hole.
  const masks = coco.map((c) => rleFromString(c.segmentation.counts, 1100, 1100));
  back.forEach((g, k) => assert.equal(rleIntersection(g.rle, masks[k]!), rleArea(masks[k]!), `vessel ${k + 1}: the outline leaves out part of the mask`));
  const ious = back.map((g, k) => rleIou(g.rle, masks[k]!));
  assert.ok(ious.reduce((a, b) => a + b, 0) / ious.length > 0.98, `GeoJSON vs COCO IoU: min ${Math.min(...ious)}, mean ${ious.reduce((a, b) => a + b, 0) / ious.length}`);
  const csv = (await readFile(join(straight, 'vessels.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv[0], 'id,centroid_x,centroid_y,area_px,area_um2,perimeter_um,equivalent_diameter_um,score');
  assert.equal(csv.length - 1, coco.length);
  assert.equal(Number(csv[1]!.split(',')[3]), rleArea(rleFromString(coco[0]!.segmentation.counts, 1100, 1100)));
  const ov = await sharp(join(straight, 'overview.png')).metadata();
  assert.deepEqual([ov.width, ov.height], [1100, 1100]);

  // Killed (SIGKILL) right after its first row of windows is saved; the rerun continues from there.
  const resumed = join(root, 'resumed');
  const killed = await vascsegWith({ VASCSEG_FAULT: 'slide:band:1' }, ...slideArgs(slideFile, resumed));
  assert.equal(killed.signal, 'SIGKILL');
  assert.deepEqual(await readdir(join(resumed, 'bands')), ['row-00000.json']);
  assert.equal((await vascseg(...slideArgs(slideFile, resumed))).code, 0);
  for (const f of outputs) assert.deepEqual(await readFile(join(resumed, f)), await readFile(join(straight, f)), f);
  // Other settings in the same folder: refused, the run's bands are not mixed.
  const other = await vascseg(...slideArgs(slideFile, resumed, '--overlap', '64'));
  assert.equal(other.code, 1);
  assert.match(other.stderr, /holds a slide run of other weights, slide or settings/);
});

test('vascseg slide --batch 4 sends four windows per forward and finds the same vessels', async () => {
  const out = join(root, 'batch4');
  assert.equal((await vascseg(...slideArgs(slideFile, out, '--batch', '4'))).code, 0);
  assert.deepEqual(await readFile(join(out, 'vessels.csv'), 'utf8'), await readFile(join(root, 'straight', 'vessels.csv'), 'utf8'));
});

test('vascseg slide reads a plain PNG slide (resolution from --slide-mpp) to the same vessels', async () => {
  const png = join(root, 'slide.png');
  // From the pixels alone: a PNG that records no resolution.
  const { data, info } = await sharp(slideFile).raw().toBuffer({ resolveWithObject: true });
  await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).png().toFile(png);
  const noMpp = await vascseg(...slideArgs(png, join(root, 'png-nompp')));
  assert.equal(noMpp.code, 1);
  assert.match(noMpp.stderr, /slide\.png: the file records no resolution .*--slide-mpp/);
  const out = join(root, 'png');
  assert.equal((await vascseg(...slideArgs(png, out, '--slide-mpp', '0.5'))).code, 0);
  assert.deepEqual(await readFile(join(out, 'vessels.csv'), 'utf8'), await readFile(join(root, 'straight', 'vessels.csv'), 'utf8'));
});

test('vascseg slide: a bad slide or weights of other classes fail with one line naming the file, before any work', async () => {
  const junk = join(root, 'junk.tif');
  await writeFile(junk, 'not a tiff');
  const bad = await vascseg(...slideArgs(junk, join(root, 'junk-out')));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /junk\.tif: not an image libvips can read/);
  const missing = await vascseg(...slideArgs(join(root, 'nope.tif'), join(root, 'nope-out')));
  assert.match(missing.stderr, /nope\.tif/);
  const config = modelConfig('tiny', ['blood_vessel', 'glomerulus']);
  const model = new TfModel(buildYolov7Seg(config), config, 1);
  const twoClass = join(root, 'two-class');
  await saveCheckpoint(twoClass, model, { imgsz: 128, epoch: 0, metrics: {} });
  model.dispose();
  const wrong = await vascseg('slide', '--weights', twoClass, '--image', slideFile, '--out', join(root, 'wrong-out'), '--imgsz', '128');
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /two-class: a model of classes blood_vessel, glomerulus/);
  await assert.rejects(readdir(join(root, 'wrong-out', 'bands')), /ENOENT/, 'no work started');
});


test('vascseg slide with several slides: one job per slide on the job queue (real Redis, a real worker) writes the files the local run writes', async () => {
  const redis = await startRedis();
  try {
    const copy = join(root, 'second.tif');
    await copyFile(slideFile, copy);
    const [local, queued] = [join(root, 'many-local'), join(root, 'many-queued')];
    const twoSlides = (out: string, ...extra: string[]) => {
      const args = [...slideArgs(slideFile, out), ...extra];
      args.splice(args.indexOf(slideFile) + 1, 0, copy);
      return args;
    };
    const localRun = await vascseg(...twoSlides(local));
    assert.equal(localRun.code, 0, localRun.stderr);
    const worker = startCli(['worker', '--redis', redis.url, '--threads', '1']);
    try {
      await worker.waitFor(/waiting for jobs/);
      const q = await vascseg(...twoSlides(queued, '--executor', 'queue', '--redis', redis.url));
      assert.equal(q.code, 0, q.stderr + q.stdout);
      assert.match(q.stdout, /\[slide\] 2 jobs on queue vascseg/);
      assert.match(q.stdout, /second\.tif: \d+ vessels/);
      assert.match(worker.out(), /\[second\] second\.tif started on [^]*\[second\] second\.tif finished in/);
      for (const name of ['slide', 'second']) {
        for (const f of outputs) assert.ok((await readFile(join(queued, name, f))).equals(await readFile(join(local, name, f))), `${name}/${f}`);
      }
      // The single-slide run of the same file found the same vessels.
      assert.deepEqual(await readFile(join(local, 'slide', 'vessels.csv'), 'utf8'), await readFile(join(root, 'straight', 'vessels.csv'), 'utf8'));
    } finally {
      worker.child.kill('SIGKILL');
    }
  } finally {
    await redis.stop();
  }
});
