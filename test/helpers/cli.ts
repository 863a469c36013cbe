import { execFile, spawn, type ChildProcess } from 'node:child_process';
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

export interface Proc { child: ChildProcess; out: () => string; exited: Promise<{ code: number | null; signal: string | null }>; waitFor: (re: RegExp, seconds?: number) => Promise<void> }

/** Start the CLI in the background; `waitFor` resolves once its output (stdout and stderr) matches. */
export function startCli(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) (w.re.test(out) ? w.resolve() : waiters.push(w));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // A line that never comes fails the test with the output instead of hanging the suite.
  const waitFor = (re: RegExp, seconds = 180) => new Promise<void>((resolve, reject) => {
    if (re.test(out)) return resolve();
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${seconds} s:\n${out}`)), seconds * 1000);
    waiters.push({ re, resolve: () => { clearTimeout(timer); resolve(); } });
    void exited.then(() => { if (!re.test(out)) { clearTimeout(timer); reject(new Error(`exited before ${re}:\n${out}`)); } });
  });
  return { child, out: () => out, exited, waitFor };
}

