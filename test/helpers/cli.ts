import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../bin/vascseg.js', import.meta.url).pathname;

export interface CliResult { stdout: string; stderr: string; code: number; signal: NodeJS.Signals | null }

/** Run the real CLI in a child process with extra environment variables; never throws. */
export async function vascsegWith(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { maxBuffer: 1 << 26, env: { ...process.env, ...env } });
    return { stdout, stderr, code: 0, signal: null };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number | null; signal: NodeJS.Signals | null };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code ?? -1, signal: e.signal };
  }
}

/** Run the real CLI in a child process; never throws, returns the exit code. */
export async function vascseg(...args: string[]): Promise<CliResult> {
  return vascsegWith({}, ...args);
}
