import { InvalidArgumentError } from 'commander';
import { readTextFile } from '../util/fs.ts';
import { formatIssue, type DataIssue } from '../data/errors.ts';

export function parseInteger(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
  return Number.parseInt(value, 10);
}

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/** A yes/no flag value: true/false, yes/no, on/off or 1/0. */
export function parseBoolean(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw new InvalidArgumentError(`expected true or false, got "${value}"`);
}

/** The help text of `--skip-bad`, the same on every verb that reads a dataset. */
export const SKIP_BAD_HELP = 'skip bad records (malformed lines, unknown types, bad polygons, missing images) with a warning instead of stopping at the first';

/** Tell the user what `--skip-bad` left out. */
export function warnSkipped(issues: readonly DataIssue[]): void {
  if (issues.length === 0) return;
  console.error(`warning: skipped ${issues.length} bad record${issues.length > 1 ? 's' : ''}; the first: ${formatIssue(issues[0]!)}`);
}

/**
 * Range-checked flag parsers: commander names the flag in the error ("option '--batch <n>'
 * argument '0' is invalid. expected an integer >= 1"), before any work starts.
 */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = parseInteger(value);
    if (n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got ${n}`);
    return n;
  };
}

export function numberIn(min: number, max: number, { openMin = false } = {}): (value: string) => number {
  return (value) => {
    const n = parseNumber(value);
    if (openMin ? n <= min : n < min) throw new InvalidArgumentError(`expected a number ${openMin ? '>' : '>='} ${min}${Number.isFinite(max) ? ` and <= ${max}` : ''}, got ${n}`);
    if (n > max) throw new InvalidArgumentError(`expected a number <= ${max}, got ${n}`);
    return n;
  };
}

/** An input size: a multiple of 32 from 32 up (the network's stride). */
export function parseImgsz(value: string): number {
  const n = parseInteger(value);
  if (n < 32 || n % 32 !== 0) throw new InvalidArgumentError(`expected a multiple of 32 (the network's stride), at least 32, got ${n}`);
  return n;
}

/** `--ids FILE`: tile ids, one per line; an empty list is an error (there would be nothing to do). */
export async function readIdList(path: string): Promise<Set<string>> {
  const text = await readTextFile(path, 'a text file of tile ids, one per line').catch((err: Error) => { throw new Error(`--ids ${err.message}`); });
  const ids = new Set(text.split(/\r?\n/).map((s) => s.trim()).filter(Boolean));
  if (ids.size === 0) throw new Error(`--ids ${path}: the file lists no tile ids, so there is nothing to do`);
  return ids;
}

/** `--executor` with `--redis` (and `--workers`, where a verb has both meanings) must agree. */
export function checkExecutorFlags(opts: { executor: 'local' | 'queue'; redis?: string }, localWorkers?: number): void {
  if (opts.executor === 'queue' && !opts.redis) throw new Error('--executor queue needs --redis redis://host:port');
  if (opts.executor === 'local' && opts.redis) throw new Error('--redis is for --executor queue; add --executor queue, or drop --redis');
  if (opts.executor === 'queue' && localWorkers !== undefined) throw new Error('--workers is for --executor local; with --executor queue, start as many `vascseg worker`s as you want');
}
