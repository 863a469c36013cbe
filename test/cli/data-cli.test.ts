import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';

test('vascseg --help lists the verbs; every flag shows its default', async () => {
  const help = await vascseg('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /data/);
  const folds = await vascseg('data', 'folds', '--help');
  assert.match(folds.stdout, /--folds <k>\s+number of folds \(default: 5\)/);
});

test('data reference + data check on the real 85-tile polygons and real tile_meta.csv', async () => {
  const dir = join(await tempDir(), 'ref');
  assert.equal((await vascseg('data', 'reference', '--out', dir)).code, 0);
  const check = await vascseg('data', 'check', dir);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /tiles: 7,033 \(85 labelled/);
  assert.match(check.stdout, /annotations: blood_vessel 674, glomerulus 0, unsure 0/);
  assert.match(check.stdout, /vessels per labelled tile: median 6\.0, mean 7\.9, max 28/);
  assert.match(check.stdout, /tiles without images: 6,948/);
  assert.match(check.stdout, /no problems found/);

  const folds = await vascseg('data', 'folds', dir, '-k', '5');
  assert.equal(folds.code, 0, folds.stderr);
  assert.equal((await readFile(join(dir, 'folds.csv'), 'utf8')).trim().split('\n').length, 86);

  await appendFile(join(dir, 'polygons.jsonl'), 'oops\n');
  const bad = await vascseg('data', 'check', dir, '--json');
  assert.equal(bad.code, 1);
  const report = JSON.parse(bad.stdout) as { problems: { file: string; line: number; message: string }[] };
  assert.equal(report.problems.length, 1);
  assert.equal(report.problems[0]!.line, 86);
  // Other verbs stop at the first problem with a clear error.
  const strict = await vascseg('data', 'folds', dir);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /polygons\.jsonl: line 86: not valid JSON/);
  // --skip-bad goes on without the bad line, and says what it skipped.
  const lenient = await vascseg('data', 'folds', dir, '--skip-bad');
  assert.equal(lenient.code, 0, lenient.stderr);
  assert.match(lenient.stderr, /warning: skipped 1 bad record; the first: .*polygons\.jsonl: line 86: not valid JSON/);
  assert.match(lenient.stdout, /85 tiles/);
});

test('vascseg synth names the flag and the bound it breaks, and writes nothing', async () => {
  const dir = await tempDir();
  const out = join(dir, 'synth');
  const bad = await vascseg('synth', '--out', out, '--stretch', '0.5', '--miss-rate', '2');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--miss-rate 2: Number must be less than or equal to 1/);
  assert.match(bad.stderr, /--stretch 0\.5: Number must be greater than or equal to 1/);
  const slide = await vascseg('synth', '--slide', '--out', join(dir, 'slide.tif'), '--stretch', '3');
  assert.equal(slide.code, 1);
  assert.match(slide.stderr, /--stretch 3: Number must be less than or equal to 2/);
  assert.deepEqual(await readdir(dir), []);
});
