import { access, mkdir, readdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Whether a path exists (any kind of entry). */
export const pathExists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/**
 * Claim a fresh run directory: `base`, else `base2`, `base3`... (Ultralytics' convention).
 * Each try is a `mkdir` that fails when the name exists, so two runs started together with
 * the same name never share a directory.
 */
export async function claimRunDir(base: string): Promise<string> {
  await mkdir(dirname(base), { recursive: true });
  for (let k = 1; ; k++) {
    const dir = k === 1 ? base : `${base}${k}`;
    try {
      await mkdir(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * Before replacing `dir` with a new output: it must be absent, empty, or our own earlier
 * output (it holds `marker`, and nothing at its top level but the names we write). A tool
 * never deletes what it did not create, so anything else is refused with what to do.
 */
export async function assertReplaceable(dir: string, marker: string, ours: readonly string[], flag = '--out'): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new Error(`${flag} ${dir}: is a file, not a directory; choose another ${flag}`);
    throw err;
  }
  if (entries.length === 0) return;
  const known = new Set([marker, ...ours]);
  const foreign = entries.filter((e) => !known.has(e));
  if (!entries.includes(marker) || foreign.length > 0) {
    const shown = (foreign.length > 0 ? foreign : entries).slice(0, 3).join(', ');
    throw new Error(`${flag} ${dir}: the directory is not empty and holds files vascseg did not write (${shown}${(foreign.length || entries.length) > 3 ? ', ...' : ''}); nothing was deleted. Choose another ${flag}, or empty the directory yourself`);
  }
}
