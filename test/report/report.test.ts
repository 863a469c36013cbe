import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'csv-parse/sync';
import type { Browser } from 'playwright-core';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { tinyDataset } from '../helpers/tiny.ts';

const root = await tempDir();
const data = join(root, 'tiny');
let browser: Browser;
before(async () => {
  await tinyDataset(data);
  browser = await launchChromium();
});
after(() => browser?.close());

/** Open a report from disk in headless Chromium: every image's pixel size, and the page text. */
async function openReport(file: string): Promise<{ images: { w: number; alt: string }[]; text: string }> {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(file).href);
  await page.waitForLoadState('load');
  const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ w: (i as HTMLImageElement).complete ? (i as HTMLImageElement).naturalWidth : 0, alt: i.getAttribute('alt') ?? '' })));
  const text = await page.innerText('body');
  await page.close();
  return { images, text };
}

test('vascseg report RUN: a train run\'s report opens in Chromium, every figure loads, the tables hold the run\'s numbers', async () => {
  const train = await vascseg('train', '--data', data, '--fold', '0', '--folds', '2', '--imgsz', '64', '--epochs', '2', '--batch', '2', '--project', join(root, 'runs'), '--name', 'r', '--precise-bn', '1');
  assert.equal(train.code, 0, train.stderr);
  const run = join(root, 'runs', 'r');
  const r = await vascseg('report', run);
  assert.equal(r.code, 0, r.stderr);
  const m = /wrote (.*report\.html) and (\d+) PNG figures/.exec(r.stdout)!;
  assert.ok(m, r.stdout);
  const { images, text } = await openReport(m[1]!);
  assert.equal(images.length, Number(m[2]));
  assert.ok(images.length >= 4, `${images.length} figures`);
  for (const i of images) assert.ok(i.w > 0, `image "${i.alt}" did not load`);
  for (const name of ['losses', 'val-ap', 'pr-curve', 'ap-by-group']) assert.ok(images.some((i) => i.alt === name), `figure ${name}`);
  assert.ok(images.filter((i) => i.alt.includes(': F1 ')).length >= 1, 'the worst-tiles gallery');
  const results = parse(await readFile(join(run, 'results.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
  const last = results.at(-1)!;
  assert.ok(text.includes(Number(last['train/seg_loss']).toFixed(4)), 'the last epoch\'s seg loss is in the table');
  assert.ok(text.includes(Number(last['val/ap60']).toFixed(4)), 'the last epoch\'s AP is in the table');
  assert.match(text, /AP@0\.6 \d\.\d{4} on \d+ tiles/);
});

test('vascseg report --data: counts, a tile per WSI and the domain map, in Chromium', async () => {
  const out = join(root, 'data-report');
  const r = await vascseg('report', '--data', data, '--out', out);
  assert.equal(r.code, 0, r.stderr);
  const { images, text } = await openReport(join(out, 'report.html'));
  for (const i of images) assert.ok(i.w > 0, `image "${i.alt}" did not load`);
  assert.ok(images.some((i) => i.alt === 'domain-by-dataset') && images.some((i) => i.alt === 'domain-by-wsi'), 'both domain maps');
  assert.equal(images.filter((i) => i.alt.startsWith('WSI ')).length, 3, 'one tile per WSI of the tiny preset');
  const meta = (await readFile(join(data, 'tile_meta.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
  const ds1 = meta.filter((c) => c[2] === '1').length;
  assert.match(text, new RegExp(`\\n1\\t${ds1}\\t`), `dataset 1 has ${ds1} tiles in the counts table`);
  // With a checkpoint the map uses the model's features.
  const byModel = await vascseg('report', '--data', data, '--out', join(root, 'model-map'), '--weights', join(root, 'runs', 'r', 'weights', 'best'));
  assert.equal(byModel.code, 0, byModel.stderr);
  const m = await openReport(join(root, 'model-map', 'report.html'));
  assert.match(m.text, /model features \(prototype and P5 head outputs/);
  for (const i of m.images) assert.ok(i.w > 0, `image "${i.alt}" did not load`);
});
