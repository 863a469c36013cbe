import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RgbImage } from '../data/images.ts';
import { decodeRle, encodeMask, rleFromString, rleToString } from '../eval/rle.ts';
import { FinishPool } from '../infer/finish-pool.ts';
import { runTiles, type PredictOptions } from '../infer/predict.ts';
import type { Runtime } from '../infer/runtime.ts';
import { CLASSES } from '../model/yolov7seg.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { faultPoint } from '../util/fault.ts';
import { lockDirectory, pathExists } from '../util/fs.ts';
import { quantile, sortedNumbers } from '../util/stats.ts';
import { mergeAcrossSeams, ownInstances, type SlideInstance } from './merge.ts';
import { localRings, measure, overviewPng, slideCoco, slideGeoJson, vesselsCsv, type SlideGeometry } from './outputs.ts';
import { openSlide, readRegion, readThumbnail, type SlideSource } from './reader.ts';
import { tissueMask } from './tissue.ts';
import { windowGrid, type SlideWindow } from './windows.ts';

export interface SlideSettings {
  /** Microns per pixel the model was trained at (the slide is read at this resolution). */
  mpp: number;
  /** The slide's microns per pixel when its metadata has none (or to override it). */
  slideMpp?: number;
  tile: number;
  overlap: number;
  tissue: 'auto' | 'none';
  predict: PredictOptions;
}

export interface SlideProgress {
  done: number;
  total: number;
  skipped: number;
}

/** The overview PNG's longer side, at most. */
const OVERVIEW_SIDE = 2048;

/** Analysis pixels per thumbnail pixel: a 512 px window is 16 thumbnail pixels. */
const THUMB_PER_TILE = 16;

/** The slide's resolution: its metadata's, or the flag's; neither is an error naming the file. */
export function slideResolution(src: SlideSource, slideMpp: number | undefined): number {
  if (slideMpp !== undefined) return slideMpp;
  if (src.mpp !== null) return src.mpp;
  throw new Error(`--image ${src.file}: the file records no resolution (microns per pixel); give it with --slide-mpp`);
}

/** Weights must predict our classes: a model of another class list is an error naming the weights, before any work. */
export function checkClasses(weights: readonly string[], runtimes: readonly Runtime[]): void {
  runtimes.forEach((r, k) => {
    if (r.config.classes.join() !== CLASSES.join()) throw new Error(`--weights ${weights[k]}: a model of classes ${r.config.classes.join(', ')}; slides are predicted with models of ${CLASSES.join(', ')}`);
  });
}

interface BandFile {
  row: number;
  windows: number;
  instances: { score: number; x: number; y: number; w: number; h: number; window: number; cut: boolean; counts: string }[];
}

function encodeBand(row: number, windows: number, instances: readonly SlideInstance[]): string {
  return JSON.stringify({
    row, windows,
    instances: instances.map((a) => ({ score: a.score, x: a.x, y: a.y, w: a.w, h: a.h, window: a.window, cut: a.cut, counts: rleToString(encodeMask(a.mask, a.w, a.h).counts) })),
  } satisfies BandFile);
}

function decodeBand(text: string): SlideInstance[] {
  const band = JSON.parse(text) as BandFile;
  return band.instances.map((i) => ({ ...i, mask: decodeRle(rleFromString(i.counts, i.h, i.w)) }));
}

/** A short hash of everything that decides the results: a rerun with other settings must not mix its bands with these. */
function settingsHash(weights: readonly string[], file: string, settings: SlideSettings): string {
  return createHash('sha256').update(JSON.stringify({ weights, file: basename(file), settings })).digest('hex').slice(0, 16);
}

/**
 * Mark `out` as this slide run's (`slide-run.json`, with the hash of the weights, slide and
 * settings), or check that it already is: a rerun continues only the same run. Returns the hash.
 */
export async function claimSlideRun(out: string, weights: readonly string[], file: string, settings: SlideSettings): Promise<string> {
  const hash = settingsHash(weights, file, settings);
  const runFile = join(out, 'slide-run.json');
  if (await pathExists(runFile)) {
    const prev = JSON.parse(await readFile(runFile, 'utf8')) as { hash: string };
    if (prev.hash !== hash) throw new Error(`--out ${out}: holds a slide run of other weights, slide or settings (${runFile}); give another --out, or remove it to start over`);
  } else {
    await writeFileAtomic(runFile, JSON.stringify({ hash, weights, file, settings }, null, 2));
  }
  return hash;
}

/** What a slide run writes into its directory, in this order (summary.json last). */
export const SLIDE_OUTPUTS = ['vessels.geojson', 'vessels.coco.json', 'vessels.csv', 'overview.png', 'summary.json'] as const;

export interface SlideResult {
  vessels: number;
  summary: Record<string, unknown>;
  outputs: string[];
}

/**
 * Every vessel of a whole slide. The slide is read window by window at the model's resolution
 * (from the pyramid level that matches it), never whole; windows without tissue are skipped;
 * each window is predicted as `predict` predicts a tile (ensemble, post-processing); each
 * window keeps the instances whose box centre lies in its core, and pieces of vessels cut by
 * window edges are joined across the seams (`mergeAcrossSeams`). Work is saved per row of
 * windows (`bands/row-NNNN.json`, atomically): a rerun after a kill continues with the next row
 * and gives the same outputs. Outputs in `out`: vessels.geojson (QuPath), vessels.coco.json,
 * vessels.csv, overview.png, summary.json.
 */
export async function runSlide(weights: readonly string[], runtimes: readonly Runtime[], file: string, out: string, settings: SlideSettings, workers: number, batch: number, onProgress?: (p: SlideProgress) => void, log: (line: string) => void = () => {}): Promise<SlideResult> {
  const started = performance.now();
  const timings = { read: 0, network: 0, finish: 0, bands: 0, merge: 0, outputs: 0 };
  const src = await openSlide(file);
  const slideMpp = slideResolution(src, settings.slideMpp);
  checkClasses(weights, runtimes);
  const { tile, overlap } = settings;
  const scale = settings.mpp / slideMpp; // level-0 pixels per analysis pixel
  const width = Math.floor(src.width / scale), height = Math.floor(src.height / scale);
  const grid = windowGrid(width, height, tile, overlap);
  const geometry: SlideGeometry = { scale, mpp: settings.mpp, width: src.width, height: src.height };
  log(`${file}: ${src.width} x ${src.height} px at ${slideMpp.toFixed(4)} um/px (${src.levels.length} level${src.levels.length > 1 ? 's' : ''}); read at ${settings.mpp} um/px: ${width} x ${height} px, ${grid.windows.length} windows of ${tile} px (${grid.cols} x ${grid.rows}, overlap ${overlap})`);

  await mkdir(join(out, 'bands'), { recursive: true });
  const release = await lockDirectory(out, 'a slide run');
  try {
    await claimSlideRun(out, weights, file, settings);

    // Tissue on a thumbnail: THUMB_PER_TILE pixels per window side.
    const thumbScale = Math.max(1, Math.floor(tile / THUMB_PER_TILE));
    let mark = performance.now();
    const thumb = await readThumbnail(src, scale * thumbScale);
    timings.read += performance.now() - mark;
    const maxHole = Math.round((tile * tile * 4) / (thumbScale * thumbScale)); // holes up to 2x2 windows are tissue
    const tissue = settings.tissue === 'auto' ? tissueMask(thumb, maxHole) : null;
    const hasTissue = (w: SlideWindow): boolean => {
      if (!tissue) return true;
      for (let y = Math.floor(w.y / thumbScale); y < Math.min(thumb.height, Math.ceil((w.y + tile) / thumbScale)); y++) {
        for (let x = Math.floor(w.x / thumbScale); x < Math.min(thumb.width, Math.ceil((w.x + tile) / thumbScale)); x++) if (tissue.mask[y * thumb.width + x]) return true;
      }
      return false;
    };
    const tissuePixels = tissue ? tissue.mask.reduce((s, v) => s + v, 0) : thumb.width * thumb.height;
    const tissueMm2 = tissuePixels * (thumbScale * settings.mpp / 1000) ** 2;
    const todo = grid.windows.filter(hasTissue);
    log(`tissue: ${tissueMm2.toFixed(2)} mm^2${tissue ? ` (saturation >= ${tissue.threshold.toFixed(3)})` : ' (--tissue none: every window)'}; ${todo.length} of ${grid.windows.length} windows to predict`);

    const pool = new FinishPool(workers);
    const all: SlideInstance[] = [];
    let done = 0;
    const skipped = grid.windows.length - todo.length;
    try {
      for (let row = 0; row < grid.rows; row++) {
        const bandFile = join(out, 'bands', `row-${String(row).padStart(5, '0')}.json`);
        const windows = todo.filter((w) => w.row === row);
        if (await pathExists(bandFile)) {
          all.push(...decodeBand(await readFile(bandFile, 'utf8')));
          done += windows.length;
          onProgress?.({ done, total: todo.length, skipped });
          continue;
        }
        const band: SlideInstance[] = [];
        const inflight: Promise<void>[] = [];
        // Windows go to the network `batch` at a time; the next group is read (libvips, in its
        // own threads) while the network runs on this one.
        const groups: SlideWindow[][] = [];
        for (let k = 0; k < windows.length; k += batch) groups.push(windows.slice(k, k + batch));
        const read = (g: SlideWindow[]) => Promise.all(g.map((w) => readRegion(src, scale, w.x, w.y, tile, tile)));
        let next: Promise<RgbImage[]> | null = groups.length > 0 ? read(groups[0]!) : null;
        for (const [k, group] of groups.entries()) {
          mark = performance.now();
          const images = await next!;
          next = k + 1 < groups.length ? read(groups[k + 1]!) : null;
          timings.read += performance.now() - mark;
          mark = performance.now();
          const outputs = await runTiles(runtimes, images, settings.predict);
          timings.network += performance.now() - mark;
          outputs.forEach((o, j) => {
            const win = group[j]!;
            inflight.push(pool.finish(o, settings.predict).then((predictions) => {
              band.push(...ownInstances(predictions, win, tile, width, height));
              done++;
              onProgress?.({ done, total: todo.length, skipped });
            }));
          });
          while (inflight.length > Math.max(1, pool.size) * batch) {
            mark = performance.now();
            await inflight.shift();
            timings.finish += performance.now() - mark;
          }
        }
        mark = performance.now();
        await Promise.all(inflight);
        timings.finish += performance.now() - mark;
        // Windows finish in any order; the band is stored in window order.
        band.sort((a, b) => a.window - b.window || a.y - b.y || a.x - b.x || b.score - a.score);
        mark = performance.now();
        await writeFileAtomic(bandFile, encodeBand(row, windows.length, band));
        faultPoint('slide:band');
        timings.bands += performance.now() - mark;
        all.push(...band);
      }
    } finally {
      await pool.close();
    }

    mark = performance.now();
    const vessels = mergeAcrossSeams(all, grid.windows, tile);
    timings.merge += performance.now() - mark;
    mark = performance.now();
    const name = basename(file);
    const rings = vessels.map(localRings); // traced once, for the measurements, GeoJSON and COCO
    const rows = vessels.map((a, k) => measure(a, rings[k]!, k + 1, geometry));
    const outputs = SLIDE_OUTPUTS.map((f) => join(out, f));
    await writeFileAtomic(outputs[0]!, JSON.stringify(slideGeoJson(vessels, rings, rows, geometry, name)));
    await writeFileAtomic(outputs[1]!, JSON.stringify(slideCoco(vessels, rings, geometry, name)));
    await writeFileAtomic(outputs[2]!, vesselsCsv(rows));
    // The overview at most OVERVIEW_SIDE px on its longer side.
    const overviewScale = Math.max(1, Math.ceil(Math.max(width, height) / OVERVIEW_SIDE));
    const overview = await readThumbnail(src, scale * overviewScale);
    await writeFileAtomic(outputs[3]!, await overviewPng(overview, overviewScale, tissue ? { mask: tissue.mask, width: thumb.width, height: thumb.height, scale: thumbScale } : null, vessels));
    const areas = sortedNumbers(rows.map((r) => r.area_um2));
    const diameters = sortedNumbers(rows.map((r) => r.equivalent_diameter_um));
    const bins = [0, 5, 10, 20, 50, 100, Infinity];
    timings.outputs += performance.now() - mark;
    const seconds = (performance.now() - started) / 1000;
    const summary = {
      slide: name,
      level0: { width: src.width, height: src.height, mpp: slideMpp, levels: src.levels.length },
      analysis: { mpp: settings.mpp, width, height, tile, overlap, windows: grid.windows.length, predicted: todo.length, skipped },
      tissue: { mode: settings.tissue, area_mm2: tissueMm2, threshold: tissue?.threshold ?? null },
      vessels: {
        count: vessels.length,
        per_mm2_tissue: tissueMm2 > 0 ? vessels.length / tissueMm2 : null,
        area_um2: { min: areas[0] ?? null, p25: quantile(areas, 0.25), median: quantile(areas, 0.5), p75: quantile(areas, 0.75), max: areas[areas.length - 1] ?? null },
        equivalent_diameter_um: bins.slice(0, -1).map((lo, k) => ({ from: lo, to: bins[k + 1] === Infinity ? null : bins[k + 1], count: diameters.filter((d) => d >= lo && d < bins[k + 1]!).length })),
      },
      predict: settings.predict,
      // Measurements of this run (a resumed run times only the rows it predicted).
      seconds,
      seconds_by_step: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, v / 1000])),
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    };
    await writeFileAtomic(outputs[4]!, JSON.stringify(summary, null, 2));
    return { vessels: vessels.length, summary, outputs };
  } finally {
    await release();
  }
}
