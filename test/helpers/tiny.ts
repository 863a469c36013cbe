import { cp, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { presetConfig } from '../../src/synth/config.ts';
import { generateDataset } from '../../src/synth/generate.ts';

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
  const cache = process.env.VASCSEG_TEST_CACHE;
  if (!cache) { await generateDataset(presetConfig('tiny', seed), dest, { workers: 0 }); return; }
  const dir = join(cache, `tiny-${seed}`);
  await renderOnce(dir, join(cache, `tiny-${seed}.lock`), () => generateDataset(presetConfig('tiny', seed), dir, { workers: 0 }));
  await cp(dir, dest, { recursive: true });
}

const exists = (path: string) => stat(path).then(() => true, () => false);
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/**
 * Runs `render` (which must create `dir` by one rename, as generateDataset does) in one process of
 * the run: the first to create `lock` renders, the others poll for `dir`. A lock whose process has
 * died (a killed test file) is taken over.
 */
async function renderOnce(dir: string, lock: string, render: () => Promise<unknown>): Promise<void> {
  for (;;) {
    if (await exists(join(dir, 'tile_meta.csv'))) return;
    const handle = await open(lock, 'wx').catch(() => null);
    if (handle) {
      try {
        await handle.writeFile(String(process.pid));
        await handle.close();
        if (!(await exists(join(dir, 'tile_meta.csv')))) await render();
      } finally {
        await rm(lock, { force: true });
      }
      return;
    }
    const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
    if (owner > 0 && !alive(owner)) await rm(lock, { force: true });
    else await new Promise((r) => setTimeout(r, 250));
  }
}
