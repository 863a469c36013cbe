import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { faultPoint } from './fault.ts';
import { pathExists } from './fs.ts';

/** Path of a temporary sibling: same directory so rename() stays on one filesystem. */
function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write a file so readers see either the old content or the new one, never half of it. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data);
    faultPoint('file:written');
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The fixed siblings of a directory being replaced: `.NAME.next` (complete new), `.NAME.prev` (the old one). */
function swapSiblings(path: string): { next: string; prev: string } {
  return { next: join(dirname(path), `.${basename(path)}.next`), prev: join(dirname(path), `.${basename(path)}.prev`) };
}

/**
 * Build a directory in a temporary sibling and put it in place when `fill` succeeds. A
 * directory cannot be swapped in one rename, so the steps leave names that say what is
 * complete: the filled directory becomes `.NAME.next`, the old one `.NAME.prev`, then
 * `.NAME.next` becomes NAME. A kill between any two steps leaves the old or the new
 * directory complete under a known name, and `recoverDir` (run before every read that
 * resumes) restores the newest complete one.
 */
export async function writeDirAtomic(path: string, fill: (dir: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await recoverDir(path);
  const tmp = tempSibling(path);
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const { next, prev } = swapSiblings(path);
  faultPoint('dir:filled');
  await rename(tmp, next);
  faultPoint('dir:next');
  try {
    await rename(path, prev);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  faultPoint('dir:prev');
  await rename(next, path);
  faultPoint('dir:swapped');
  await rm(prev, { recursive: true, force: true });
}

/**
 * Finish an interrupted `writeDirAtomic`: a complete `.NAME.next` is newer than NAME and
 * takes its place; with neither, `.NAME.prev` comes back; leftovers go. Unfinished temp
 * siblings (`.NAME.*.tmp`) never held a complete directory and are removed.
 */
export async function recoverDir(path: string): Promise<void> {
  const { next, prev } = swapSiblings(path);
  if (await pathExists(next)) {
    if (await pathExists(path)) {
      await rm(prev, { recursive: true, force: true });
      await rename(path, prev);
    }
    await rename(next, path);
  } else if (!(await pathExists(path)) && (await pathExists(prev))) {
    await rename(prev, path);
  }
  await rm(prev, { recursive: true, force: true });
  const stem = `.${basename(path)}.`;
  const entries = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const e of entries) if (e.startsWith(stem) && e.endsWith('.tmp')) await rm(join(dirname(path), e), { recursive: true, force: true });
}
