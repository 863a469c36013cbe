/**
 * npm run bench:synth [-- --tiles N] — render the first N tiles (default 260) of the full
 * preset (7,033 tiles, 13 WSIs) with one worker per core, and print tiles/s and the projected
 * time for the whole full preset. A WSI's first tile also pays for its colour map and detail
 * fit (once per WSI: the pool keeps workers to their WSIs), so the projection counts that cost
 * once per WSI of the full preset and the rest per tile, both measured in one thread in the
 * same run, at the parallel efficiency the sample reached.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { presetConfig, synthSchema } from '../src/synth/config.ts';
import { generateDataset } from '../src/synth/generate.ts';
import { WsiWorld } from '../src/synth/world.ts';
import { wsiStain } from '../src/synth/stain.ts';
import { renderTile } from '../src/synth/render.ts';

const arg = process.argv.indexOf('--tiles');
const n = arg > 0 ? Number(process.argv[arg + 1]) : 260;
const full = presetConfig('full', 0);
const total = full.wsis.reduce((s, w) => s + w.dataset1 + w.dataset2 + w.dataset3, 0);
// The same mix as the full preset, scaled to n tiles: dataset 1, 2 and 3 WSIs in proportion.
const scale = n / total;
const sample = synthSchema.parse({
  ...full,
  wsis: full.wsis.map((w) => ({ wsi: w.wsi, dataset1: Math.round(w.dataset1 * scale), dataset2: Math.round(w.dataset2 * scale), dataset3: Math.round(w.dataset3 * scale) }))
    .filter((w) => w.dataset1 + w.dataset2 + w.dataset3 > 0),
});
const tiles = sample.wsis.reduce((s, w) => s + w.dataset1 + w.dataset2 + w.dataset3, 0);

// One thread: a WSI's first tile (its fit included), then tiles of it after the fit.
const wsi = full.wsis[0]!.wsi;
const world = new WsiWorld(full.seed, wsi, full.appearance);
const stain = wsiStain(full.seed, wsi, full.appearance.stainShift);
let t = performance.now();
renderTile(world, stain, full.appearance, 0, 0);
const first = (performance.now() - t) / 1000;
const after = 12;
t = performance.now();
for (let k = 1; k <= after; k++) renderTile(world, stain, full.appearance, 512 * k, 0);
const perTile = (performance.now() - t) / 1000 / after;
const perWsi = first - perTile;

const work = await mkdtemp(join(tmpdir(), 'bench-synth-'));
const parallel = await generateDataset(sample, join(work, 'all'));
await rm(work, { recursive: true, force: true });
const workers = availableParallelism();
const rate = parallel.tiles / parallel.seconds;
const cost = (wsis: number, count: number) => wsis * perWsi + count * perTile; // one-thread seconds
const efficiency = cost(sample.wsis.length, tiles) / (parallel.seconds * workers);
console.log(`one thread: a WSI's fit ${perWsi.toFixed(2)} s, then ${(1000 * perTile).toFixed(0)} ms per tile (${after} tiles)`);
console.log(`${workers} workers: ${tiles} tiles of ${sample.wsis.length} WSIs in ${parallel.seconds.toFixed(1)} s = ${rate.toFixed(2)} tiles/s (${(100 * efficiency).toFixed(0)}% of ${workers} threads' work)`);
console.log(`full preset (${total} tiles, ${full.wsis.length} WSIs) projected: ${(cost(full.wsis.length, total) / (workers * efficiency) / 60).toFixed(1)} min`);
