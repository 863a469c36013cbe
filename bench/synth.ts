/**
 * npm run bench:synth [-- --tiles N] — render the first N tiles (default 260) of the full
 * preset (7,033 tiles, 13 WSIs) with one worker per core; print tiles/s and the projected
 * time for the whole full preset, with the single-thread rate measured in the same run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { presetConfig, synthSchema } from '../src/synth/config.ts';
import { generateDataset } from '../src/synth/generate.ts';

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
const work = await mkdtemp(join(tmpdir(), 'bench-synth-'));
const single = await generateDataset(synthSchema.parse({ ...sample, wsis: sample.wsis.slice(0, 1) }), join(work, 'one'), { workers: 0 });
const parallel = await generateDataset(sample, join(work, 'all'));
await rm(work, { recursive: true, force: true });
const rate1 = single.tiles / single.seconds;
const rate = parallel.tiles / parallel.seconds;
console.log(`single thread: ${single.tiles} tiles in ${single.seconds.toFixed(1)} s = ${rate1.toFixed(2)} tiles/s`);
console.log(`${availableParallelism()} workers: ${tiles} tiles in ${parallel.seconds.toFixed(1)} s = ${rate.toFixed(2)} tiles/s (${(rate / rate1).toFixed(2)}x single thread)`);
console.log(`full preset (${total} tiles) projected: ${(total / rate / 60).toFixed(1)} min`);
