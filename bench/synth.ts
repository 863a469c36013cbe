/**
 * npm run bench:synth [-- --tiles N] — render the first N tiles (default 260) of the full
 * preset (7,033 tiles, 13 WSIs) with one worker per core, and print tiles/s and the projected
 * time for the whole full preset. A WSI's first tile also pays for its colour map and detail
 * fit (once per WSI: the pool keeps workers to their WSIs), so the projection counts that cost
 * once per WSI of the full preset and the rest per tile, both measured in one thread in the
 * same run, at the parallel efficiency the sample reached. The same again without the learned
 * refiner, the baseline its cost is a ratio against: one-thread rounds
 * interleaved, medians of three.
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

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const rounds = 3;
/**
 * One thread, for one appearance: a WSI's fit (its first tile less a later tile's time) and the
 * time per tile after it (12 tiles). Each round a new seed, so the fit is paid again.
 */
function oneThread(appearance: typeof full.appearance, seed: number): { perWsi: number; perTile: number } {
  const wsi = full.wsis[0]!.wsi;
  const world = new WsiWorld(seed, wsi, appearance);
  const stain = wsiStain(seed, wsi, appearance.stainShift);
  let t = performance.now();
  renderTile(world, stain, appearance, 0, 0);
  const first = (performance.now() - t) / 1000;
  const after = 12;
  t = performance.now();
  for (let k = 1; k <= after; k++) renderTile(world, stain, appearance, 512 * k, 0);
  const perTile = (performance.now() - t) / 1000 / after;
  return { perWsi: first - perTile, perTile };
}

// The generator as configured, and without the learned refiner as the
// baseline, interleaved round by round.
const contenders = { refined: full.appearance, 'without the refiner': { ...full.appearance, refine: false } };
const times = new Map(Object.keys(contenders).map((k) => [k, { perWsi: [] as number[], perTile: [] as number[] }]));
for (let r = 0; r < rounds; r++) {
  for (const [name, appearance] of Object.entries(contenders)) {
    const m = oneThread(appearance, 100 + r);
    times.get(name)!.perWsi.push(m.perWsi);
    times.get(name)!.perTile.push(m.perTile);
  }
}
const workers = availableParallelism();
const projected = new Map<string, number>();
for (const [name, appearance] of Object.entries(contenders)) {
  const { perWsi, perTile } = { perWsi: median(times.get(name)!.perWsi), perTile: median(times.get(name)!.perTile) };
  const work = await mkdtemp(join(tmpdir(), 'bench-synth-'));
  const parallel = await generateDataset({ ...sample, appearance }, join(work, 'all'));
  await rm(work, { recursive: true, force: true });
  const rate = parallel.tiles / parallel.seconds;
  const cost = (wsis: number, count: number) => wsis * perWsi + count * perTile; // one-thread seconds
  const efficiency = cost(sample.wsis.length, tiles) / (parallel.seconds * workers);
  const seconds = (v: number[]) => v.map((x) => x.toFixed(2)).join(' / '), ms = (v: number[]) => v.map((x) => (1000 * x).toFixed(0)).join(' / ');
  console.log(`${name}: one thread, medians of ${rounds} rounds: a WSI's fit ${perWsi.toFixed(2)} s (${seconds(times.get(name)!.perWsi)}), then ${(1000 * perTile).toFixed(0)} ms per tile (${ms(times.get(name)!.perTile)})`);
  console.log(`${name}: ${workers} workers: ${tiles} tiles of ${sample.wsis.length} WSIs in ${parallel.seconds.toFixed(1)} s = ${rate.toFixed(2)} tiles/s (${(100 * efficiency).toFixed(0)}% of ${workers} threads' work)`);
  projected.set(name, cost(full.wsis.length, total) / (workers * efficiency));
  console.log(`${name}: full preset (${total} tiles, ${full.wsis.length} WSIs) projected: ${(projected.get(name)! / 60).toFixed(1)} min`);
}
console.log(`refined / without the refiner, full preset projected: ${(projected.get('refined')! / projected.get('without the refiner')!).toFixed(2)}x`);
