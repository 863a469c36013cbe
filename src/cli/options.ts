import { InvalidArgumentError } from 'commander';
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

/** The help text of `--skip-bad`, the same on every verb that reads a dataset. */
export const SKIP_BAD_HELP = 'skip bad records (malformed lines, unknown types, bad polygons, missing images) with a warning instead of stopping at the first';

/** Tell the user what `--skip-bad` left out. */
export function warnSkipped(issues: readonly DataIssue[]): void {
  if (issues.length === 0) return;
  console.error(`warning: skipped ${issues.length} bad record${issues.length > 1 ? 's' : ''}; the first: ${formatIssue(issues[0]!)}`);
}
