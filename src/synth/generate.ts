import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { formatPolygons } from '../data/polygons.ts';
import { FILES, writeDatasetFiles } from '../data/dataset.ts';
import { parseWsiMeta } from '../data/csv.ts';
import { IssueCollector } from '../data/errors.ts';
import type { TileLabels, TileMeta, WsiMeta } from '../data/types.ts';
import { REFERENCE_DIR } from '../reference/build.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { assertReplaceable } from '../util/fs.ts';
import type { SynthConfig } from './config.ts';
import { recordPath, renderChunk, type ChunkJob, type TileRecord } from './chunk.ts';
import type { NoiseLog } from './labels.ts';
import { layoutTiles } from './layout.ts';

export interface GenerateOptions {
  /** Worker threads; 0 renders in this thread. Default: one per core. */
  workers?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface GenerateSummary {
  tiles: number;
  /** Tiles found finished in the work directory of an interrupted run and kept. */
  resumed: number;
  noise: NoiseLog;
  seconds: number;
}

const CHUNK = 40;

/**
 * The generator's version, written into synth.json: a dataset rendered by another version
 * looks different for the same config (2: the tissue measured against real tiles, 2026-12-01;
 * 3: packed irregular tubules, nuclei, sensor noise after the colour map, JPEG, 2026-12-02;
 * 4: each WSI as sharp as its real tiles, the focus wandering over it, 2026-12-04; 5: every
 * tile through the learned refiner, 2026-12-07; 6: as much bare glass as each real WSI shows, in
 * its real colour, 2026-12-07; 7: tubules the real tiles' size, their nuclei in a ring along the
 * basement membrane, 2026-12-07).
 */
export const GENERATOR_VERSION = 7;

/** The generator version a dataset directory was rendered by (1 for datasets from before versions were written), or null when it holds none. */
export async function generatorVersionOf(dir: string): Promise<number | null> {
  const text = await readFile(join(dir, 'synth.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  const v = (JSON.parse(text) as { generator?: unknown }).generator;
  return typeof v === 'number' ? v : 1;
}

/** Chunks of at most CHUNK tiles, each of one WSI, so workers share the work evenly. */
function chunks(tiles: readonly TileMeta[]): TileMeta[][] {
  const byWsi = new Map<number, TileMeta[]>();
  for (const t of tiles) {
    const list = byWsi.get(t.sourceWsi);
    if (list) list.push(t);
    else byWsi.set(t.sourceWsi, [t]);
  }
  const out: TileMeta[][] = [];
  for (const list of byWsi.values()) for (let k = 0; k < list.length; k += CHUNK) out.push(list.slice(k, k + CHUNK));
  return out;
}

async function runInWorkers(jobs: ChunkJob[], workers: number, onTile: (resumed: boolean) => void): Promise<void> {
  if (workers <= 0) {
    for (const job of jobs) await renderChunk(job, onTile);
    return;
  }
  const queue = [...jobs];
  const pool = Array.from({ length: Math.min(workers, jobs.length) }, () => new Worker(new URL('./worker-entry.mjs', import.meta.url)));
  // A worker keeps to the WSIs it has started: each WSI's colour map and detail fit (about 5 s)
  // are computed once per worker that renders it, so a WSI shared by every worker costs that
  // many fits. Which worker renders a tile does not change its bytes.
  const seen = pool.map(() => new Set<number>());
  const wsiOf = (job: ChunkJob) => job.tiles[0]!.sourceWsi;
  const take = (k: number): ChunkJob | undefined => {
    let at = queue.findIndex((j) => seen[k]!.has(wsiOf(j)));
    if (at < 0) at = queue.findIndex((j) => !seen.some((s) => s.has(wsiOf(j))));
    if (at < 0) at = 0;
    const job = queue.splice(at, 1)[0];
    if (job) seen[k]!.add(wsiOf(job));
    return job;
  };
  try {
    await Promise.all(pool.map((worker, k) => new Promise<void>((resolve, reject) => {
      const next = () => {
        const job = take(k);
        if (job) worker.postMessage(job);
        else resolve();
      };
      worker.on('message', (m: { done?: number; resumed?: boolean; finished?: boolean; error?: string }) => {
        if (m.done) onTile(m.resumed ?? false);
        if (m.error) reject(new Error(`synth worker failed: ${m.error}`));
        if (m.finished) next();
      });
      worker.on('error', reject);
      worker.on('exit', (code) => { if (code !== 0) reject(new Error(`synth worker exited with code ${code}`)); });
      next();
    })));
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

/** Real donor rows for WSIs 1-4 (the real wsi_meta.csv); the competition had none for the others. */
async function donorRows(wsis: Iterable<number>): Promise<WsiMeta[]> {
  const real = parseWsiMeta(await readFile(REFERENCE_DIR + 'wsi_meta.csv', 'utf8'), 'wsi_meta.csv', new IssueCollector(true));
  const wanted = new Set(wsis);
  return real.filter((w) => wanted.has(w.sourceWsi));
}

/** What a synthetic dataset holds at its top level: the Kaggle layout (`folds.csv` from `data folds`) and the hidden truth. */
const SYNTH_OUTPUT: string[] = [...Object.values(FILES), 'truth'];

/**
 * Generate a dataset in the Kaggle layout into `out`. Work happens in `out.partial/`; every
 * finished tile survives an interruption and a rerun with the same config resumes. The final
 * directory appears by one rename when everything is written.
 */
export async function generateDataset(config: SynthConfig, out: string, options: GenerateOptions = {}): Promise<GenerateSummary> {
  const start = performance.now();
  const workDir = `${out}.partial`;
  const configText = JSON.stringify({ generator: GENERATOR_VERSION, ...config }, null, 2);
  // Both `out` (replaced at the end) and `out.partial` (restarted when its config differs)
  // may only be deleted when they are ours.
  await assertReplaceable(out, 'synth.json', SYNTH_OUTPUT);
  await assertReplaceable(workDir, 'synth.json', [...SYNTH_OUTPUT, 'records'], '--out (its work directory)');
  const previous = await readFile(join(workDir, 'synth.json'), 'utf8').catch(() => null);
  if (previous !== configText) await rm(workDir, { recursive: true, force: true });
  await mkdir(join(workDir, 'records'), { recursive: true });
  await mkdir(join(workDir, 'train'), { recursive: true });
  await writeFile(join(workDir, 'synth.json'), configText);

  const tiles = layoutTiles(config);
  let done = 0;
  let resumed = 0;
  const onTile = (wasResumed: boolean) => {
    if (wasResumed) resumed++;
    options.onProgress?.(++done, tiles.length);
  };
  const jobs = chunks(tiles).map((t) => ({ config, tiles: t, workDir }));
  await runInWorkers(jobs, options.workers ?? availableParallelism(), onTile);

  const labels: TileLabels[] = [];
  const truth: TileLabels[] = [];
  const noise: NoiseLog = { vessels: 0, missed: 0, shrunk: 0, shifted: 0, falseVessels: 0, duplicates: 0 };
  const sorted = [...tiles].sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const t of sorted) {
    const record = JSON.parse(await readFile(recordPath(workDir, t.id), 'utf8')) as TileRecord;
    if (record.labels) labels.push({ id: t.id, annotations: record.labels });
    if (t.dataset !== 1) truth.push({ id: t.id, annotations: record.truth });
    if (record.noise) for (const k of Object.keys(noise) as (keyof NoiseLog)[]) noise[k] += record.noise[k];
  }
  await writeDatasetFiles(workDir, { tiles: sorted, wsis: await donorRows(new Set(tiles.map((t) => t.sourceWsi))), labels });
  await writeFileAtomic(join(workDir, 'truth', 'polygons.jsonl'), formatPolygons(truth));
  await writeFileAtomic(join(workDir, 'synth.json'), JSON.stringify({ generator: GENERATOR_VERSION, ...config, noiseApplied: noise }, null, 2));
  await rm(join(workDir, 'records'), { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
  await rename(workDir, out);
  return { tiles: tiles.length, resumed, noise, seconds: (performance.now() - start) / 1000 };
}

