// Loaded by `npm test` (node --import) in the test runner's process and in each test file's: the
// first, the runner, makes one cache directory for the whole run, hands it down in the
// environment and removes it when the run ends. test/helpers/tiny.ts keeps its renderings there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (!process.env.VASCSEG_TEST_CACHE) {
  const dir = mkdtempSync(join(tmpdir(), 'vascseg-test-run-'));
  process.env.VASCSEG_TEST_CACHE = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
}
