import { access, constants, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

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

/** A system error as one line: the path, what went wrong in words, and what the path should be. */
export function fsErrorMessage(err: unknown, path: string, expected: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'not found'
    : code === 'EISDIR' ? 'is a directory'
    : code === 'ENOTDIR' ? 'is not a directory (or a parent of it is a file)'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : (err as Error).message;
  return `${path}: ${why}; expected ${expected}`;
}

/** Read a text file, every system error turned into `fsErrorMessage`. */
export async function readTextFile(path: string, expected: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(fsErrorMessage(err, path, expected));
  }
}

/** A directory the user named must be one: a clear line instead of ENOTDIR from deep inside. */
export async function assertDirectory(path: string, expected: string): Promise<void> {
  let ok: boolean;
  try {
    ok = (await stat(path)).isDirectory();
  } catch (err) {
    throw new Error(fsErrorMessage(err, path, expected));
  }
  if (!ok) throw new Error(`${path}: is a file, not a directory; expected ${expected}`);
}

/**
 * Check an output path before a long job, not after it: a file output must not be a
 * directory and its folder must be writable; a directory output must not be a file.
 * Creates the folder it will write into.
 */
export async function prepareOutput(path: string, kind: 'file' | 'dir', flag = '--out'): Promise<void> {
  const existing = await stat(path).catch(() => null);
  if (existing && kind === 'file' && existing.isDirectory()) throw new Error(`${flag} ${path}: is a directory; expected a file path to write`);
  if (existing && kind === 'dir' && !existing.isDirectory()) throw new Error(`${flag} ${path}: is a file; expected a directory to write into`);
  const folder = kind === 'dir' ? path : dirname(path);
  try {
    await mkdir(folder, { recursive: true });
    await access(folder, constants.W_OK);
  } catch (err) {
    throw new Error(`${flag} ${fsErrorMessage(err, folder, 'a writable directory')}`);
  }
}

/**
 * Hold `dir` for one process: `dir/.lock` is created with O_EXCL and holds our pid. A lock
 * whose process is gone (killed with -9) is taken over; a live one is an error naming it.
 * Returns the release function.
 */
export async function lockDirectory(dir: string, what: string): Promise<() => Promise<void>> {
  const file = join(dir, '.lock');
  await mkdir(dir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(file, 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new Error(`${dir}: another ${what} (pid ${pid}) is running in this directory; wait for it, or use another --name`);
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`${file}: could not take the lock`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
