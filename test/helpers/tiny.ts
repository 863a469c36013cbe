import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { presetConfig } from '../../src/synth/config.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { lockDirectory, pathExists } from '../../src/util/fs.ts';

/**
 * The tiny synthetic preset at `seed`, copied to `dest` (which must not exist): what
 * `generateDataset(presetConfig('tiny', seed), dest)` writes, byte for byte (the synth tests
 * hold a dataset to the same bytes whatever renders it). Eight test files want the same tiny
 * preset, and each rendering costs 23 s of one core on an idle 2-core machine (more beside the
 * other tests), so within one `npm test` the first file to ask renders it into the run's cache
 * (`VASCSEG_TEST_CACHE`, test/helpers/run-cache.mjs) and the others wait for it and copy it.
 * Without that variable (one test file run by hand) it renders in place.
 */
export async function tinyDataset(dest: string, seed = 0): Promise<void> {
  const render = (out: string) => generateDataset(presetConfig('tiny', seed), out, { workers: 0 });
  const cache = process.env.VASCSEG_TEST_CACHE;
  if (!cache) { await render(dest); return; }
  const dir = join(cache, `tiny-${seed}`);
  await renderOnce(dir, join(cache, `tiny-${seed}.lock`), () => render(dir));
  await cp(dir, dest, { recursive: true });
}

/**
 * Runs `render` (which must create `dir` by one rename, as generateDataset does) in one process of
 * the run: the one holding `lockDir` (`lockDirectory`: a dead holder's lock is taken over) renders,
 * the others poll for `dir`. `lockDirectory` refuses a live holder with an error that carries no
 * system code; file-system errors (which do) fail the test instead of waiting forever.
 */
async function renderOnce(dir: string, lockDir: string, render: () => Promise<unknown>): Promise<void> {
  const done = () => pathExists(join(dir, 'tile_meta.csv'));
  while (!(await done())) {
    const release = await lockDirectory(lockDir, 'tiny preset rendering').catch((err: NodeJS.ErrnoException) => {
      if (err.code) throw err;
      return null;
    });
    if (!release) { await new Promise((r) => setTimeout(r, 250)); continue; }
    try {
      if (!(await done())) await render();
    } finally {
      await release();
    }
  }
}
