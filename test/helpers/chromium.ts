/**
 * A headless Chromium for the browser tests and the docs screenshot, with nothing installed
 * by hand: `CHROMIUM=/path` first, then a system Chromium or Chrome on PATH (a developer's
 * own, macOS included through CHROMIUM), then the build that the `@sparticuz/chromium` dev
 * dependency ships inside its npm package (Linux x64/arm64; unpacked on first use, about 1.5 s).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Flags that keep Chromium off the network this machine does not have (it retries otherwise). */
const QUIET_FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function systemChromium(): string | null {
  try {
    const found = execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser || command -v google-chrome'], { encoding: 'utf8' });
    return found.trim().split('\n')[0] || null;
  } catch {
    return null;
  }
}

export async function chromiumExecutable(): Promise<{ path: string; args: string[]; source: string }> {
  if (process.env.CHROMIUM) return { path: process.env.CHROMIUM, args: QUIET_FLAGS, source: 'CHROMIUM' };
  const system = systemChromium();
  if (system) return { path: system, args: QUIET_FLAGS, source: 'PATH' };
  if (process.platform !== 'linux') {
    throw new Error(`no Chromium found: the bundled build is Linux-only; set CHROMIUM to a Chromium or Chrome binary`);
  }
  return bundledChromium();
}

/**
 * The package unpacks into os.tmpdir() and reuses whatever `chromium` it finds there, even
 * another version's or another user's (seen: a stale /tmp/libEGL.so from another version
 * crashed the browser at start). So it unpacks into a folder of its own per user and version,
 * marked complete only after a successful unpack.
 */
async function bundledChromium(): Promise<{ path: string; args: string[]; source: string }> {
  const entry = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  const packageJson = join(entry.slice(0, entry.lastIndexOf('@sparticuz/chromium') + '@sparticuz/chromium'.length), 'package.json');
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  const dir = join(tmpdir(), `vascseg-chromium-${version}-${process.getuid?.() ?? 'user'}`);
  const complete = join(dir, '.complete');
  if (!existsSync(complete)) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    const bundled = (await import('@sparticuz/chromium')).default;
    const path = await bundled.executablePath();
    writeFileSync(complete, '');
    // Its args are for AWS Lambda; --single-process there makes the browser exit when its
    // last page closes (seen: the second report test found the browser gone).
    const args = bundled.args.filter((a: string) => a !== '--single-process');
    return { path, args: [...args, ...QUIET_FLAGS], source: '@sparticuz/chromium' };
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
}

export async function launchChromium(): Promise<Browser> {
  const { path, args } = await chromiumExecutable();
  return chromium.launch({ executablePath: path, args });
}
