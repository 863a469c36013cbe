/**
 * What a sweep of bad inputs and faults found, each kept fixed: nothing the user owns is
 * deleted, nothing hangs, no answer is silently wrong, and every bad flag or path is one clear
 * line naming it.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { nms, type Box } from '../../src/infer/nms.ts';
import { claimRunDir, lockDirectory } from '../../src/util/fs.ts';
import { fromCocoResults } from '../../src/eval/export.ts';
import { decodeMaskString, parseSubmission } from '../../src/eval/submission.ts';
import { loadPipelineConfig } from '../../src/pipeline/config.ts';
import { expertFolds, makeFolds, parseFolds } from '../../src/data/folds.ts';
import { loadDataset } from '../../src/data/dataset.ts';
import { IssueCollector } from '../../src/data/errors.ts';
import { generateDataset } from '../../src/synth/generate.ts';
import { synthSchema } from '../../src/synth/config.ts';
import { chooseOptimizer } from '../../src/train/trainer.ts';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';
import { writeSmallDataset } from '../helpers/dataset.ts';

const root = await tempDir();
const data = join(root, 'tiny');
// Two WSIs of expert tiles and a few noisy ones: what training and the fold split need (each WSI fitted costs seconds).
const config = synthSchema.parse({ seed: 0, wsis: [{ wsi: 1, dataset1: 4, dataset2: 2 }, { wsi: 2, dataset1: 2 }] });
before(() => generateDataset(config, data, { workers: 0 }).then(() => undefined));

test('synth and data reference never delete a directory they did not write', async () => {
  const mine = join(root, 'mine');
  await mkdir(mine);
  await writeFile(join(mine, 'notes.txt'), 'x');
  for (const args of [['synth', '--out', mine, '--preset', 'tiny'], ['data', 'reference', '--out', mine]]) {
    const r = await vascseg(...args);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, /--out .*mine: the directory is not empty and holds files vascseg did not write \(notes\.txt\); nothing was deleted/);
    assert.equal(await readFile(join(mine, 'notes.txt'), 'utf8'), 'x');
  }
  // A user folder named like synth's work directory is not ours either.
  await mkdir(`${join(root, 'other')}.partial`);
  await writeFile(join(`${join(root, 'other')}.partial`, 'keep.txt'), 'y');
  const r = await vascseg('synth', '--out', join(root, 'other'), '--preset', 'tiny');
  assert.equal(r.code, 1);
  assert.equal(await readFile(join(`${join(root, 'other')}.partial`, 'keep.txt'), 'utf8'), 'y');
  // Our own output may be written again (the tests above generated `data` the same way).
  const again = await vascseg('data', 'reference', '--out', join(root, 'ref'));
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await vascseg('data', 'reference', '--out', join(root, 'ref'))).code, 0);
});

test('NMS ends on NaN and Infinity scores: NaNs are dropped, infinities rank first', () => {
  const boxes: Box[] = [];
  const scores: number[] = [];
  for (let k = 0; k < 3000; k++) {
    boxes.push([k * 3, 0, k * 3 + 2, 2]);
    scores.push(k % 3 === 0 ? Number.NaN : k % 3 === 1 ? Infinity : 0.5);
  }
  const kept = nms(boxes, scores, new Array(3000).fill(0), 0.5, 3000);
  assert.equal(kept.length, 2000);
  assert.ok(kept.every((k) => !Number.isNaN(scores[k])));
  assert.ok(kept.slice(0, 1000).every((k) => scores[k] === Infinity));
  assert.deepEqual(nms(boxes.slice(0, 5), [NaN, NaN, NaN, NaN, NaN], [0, 0, 0, 0, 0], 0.5), []);
  assert.equal(nms(boxes, new Array(3000).fill(Infinity), new Array(3000).fill(0), 0.5, 300).length, 300);
});

test('a diverging training stops at once with what to do, instead of hanging', async () => {
  // Clipping and the long warm-up (the defaults) tame even this rate for three epochs: both off.
  const r = await vascseg('train', '--data', data, '--project', join(root, 'runs'), '--name', 'diverge', '--imgsz', '64', '--epochs', '3', '--batch', '4', '--optimizer', 'sgd', '--lr0', '1e6', '--clip-grad', '0', '--warmup-min-iters', '0', '--no-augment');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /training diverged: the loss is not finite at epoch \d+, batch \d+ .*lower the learning rate \(--lr0, now 1000000\)/);
});

test('runs started together with one name each get their own directory; a live pipeline lock is refused', async () => {
  const base = join(root, 'claims', 'exp');
  const dirs = await Promise.all(Array.from({ length: 8 }, () => claimRunDir(base)));
  assert.equal(new Set(dirs).size, 8);
  assert.deepEqual((await readdir(join(root, 'claims'))).sort(), ['exp', 'exp2', 'exp3', 'exp4', 'exp5', 'exp6', 'exp7', 'exp8']);

  const dir = join(root, 'locked');
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '.lock'), String(sleeper.pid));
    await assert.rejects(lockDirectory(dir, 'vascseg pipeline'), new RegExp(`another vascseg pipeline \\(pid ${sleeper.pid}\\) is running`));
  } finally {
    sleeper.kill('SIGKILL');
  }
  await new Promise((r) => sleeper.once('exit', r));
  const release = await lockDirectory(dir, 'vascseg pipeline'); // the holder is gone: taken over
  assert.equal(await readFile(join(dir, '.lock'), 'utf8'), String(process.pid));
  await release();
});

test('a mask that inflates past what its size allows is refused with the row, without exhausting memory', () => {
  const bomb = deflateSync(Buffer.alloc(50_000_000, 0x30), { level: 9 }).toString('base64');
  assert.throws(() => decodeMaskString(bomb, 512, 512), /mask inflates past 1835015 bytes, more than a 512x512 mask can need/);
  const parsed = parseSubmission(`id,height,width,prediction_string\naaaaaaaaaaa1,512,512,0 0.5 ${bomb}\n`, 'sub.csv');
  assert.equal(parsed.issues.length, 1);
  assert.match(`${parsed.issues[0]!.line} ${parsed.issues[0]!.message}`, /^2 .*inflates past/);
});

test('COCO results with a string category_id are an error, not AP 0', () => {
  const entry = { image_id: 'aaaaaaaaaaa1', category_id: '1', score: 0.9, segmentation: { size: [2, 2], counts: '04' } };
  assert.throws(() => fromCocoResults([entry], 'r.json'), /r\.json: entry 0: category_id must be a number .* got "1"/);
});

test('a pipeline config merges nested settings over the preset, key by key', async () => {
  const file = join(root, 'p.json');
  await writeFile(file, JSON.stringify({ pretrainPseudo: { epochs: 5 }, pseudo: { conf: 0.4 } }));
  const c = await loadPipelineConfig(file, 'demo');
  assert.deepEqual(c.pretrainPseudo, { epochs: 5, init: 'pretrain-ds2' });
  assert.equal(c.pseudo.conf, 0.4);
  assert.equal(c.pseudo.tileConf, 0.6);
  assert.equal(c.lr0, 0.003);
});

test('data folds writes the split train and pipeline hold out, and they read folds.csv when it exists', async () => {
  const ds = await loadDataset(data);
  assert.equal(ds.folds, undefined);
  const computed = expertFolds(ds, 2, 0);
  const expert = ds.tiles.filter((t) => t.dataset === 1 && ds.labels.has(t.id));
  assert.deepEqual(computed, makeFolds(expert, { k: 2, seed: 0 }));
  const r = await vascseg('data', 'folds', data, '-k', '2');
  assert.equal(r.code, 0, r.stderr);
  const written = parseFolds(await readFile(join(data, 'folds.csv'), 'utf8'), 'folds.csv', new Set(ds.tiles.map((t) => t.id)), new IssueCollector(true));
  assert.deepEqual(written, computed);
  // An edited folds.csv is what training uses now.
  const swapped = new Map([...written].map(([id, f]) => [id, (f + 1) % 2]));
  await writeFile(join(data, 'folds.csv'), `id,fold\n${[...swapped].map(([id, f]) => `${id},${f}`).join('\n')}\n`);
  assert.deepEqual(expertFolds(await loadDataset(data), 2, 0), swapped);
  const tooHigh = new Map([...swapped].map(([id, f], i) => [id, i === 0 ? 2 : f]));
  assert.throws(() => expertFolds({ ...ds, folds: tooHigh }, 2, 0), /folds\.csv: tile \w+ is in fold 2, but 2 folds \(0\.\.1\) were asked for/);
  await writeFile(join(data, 'folds.csv'), 'id,fold\n');
  assert.throws(() => expertFolds({ ...ds, folds: new Map() }, 2, 0), /has no fold; rewrite it with vascseg data folds/);
  const { rm } = await import('node:fs/promises');
  await rm(join(data, 'folds.csv'));
});

test('optimizer auto: AdamW at the fitted rate for short runs, SGD for long ones, explicit choices win', () => {
  assert.deepEqual(chooseOptimizer('auto', undefined, 90, 3).optimizer, 'adamw');
  assert.equal(chooseOptimizer('auto', undefined, 90, 3).lr0, 0.001429);
  assert.deepEqual(chooseOptimizer('auto', undefined, 20_000, 3), { optimizer: 'sgd', lr0: 0.01, why: 'auto: 20000 updates > 10000, YOLO\'s SGD' });
  assert.equal(chooseOptimizer('auto', 0.005, 90, 3).lr0, 0.005);
  assert.equal(chooseOptimizer('sgd', undefined, 90, 3).optimizer, 'sgd');
});

test('every bad flag and path is one line naming it, before any work', async () => {
  const empty = join(root, 'empty.txt');
  await writeFile(empty, '');
  const dir = join(root, 'a-dir');
  await mkdir(dir, { recursive: true });
  const badInit = join(root, 'bad-init.json');
  await writeFile(badInit, JSON.stringify({ model: 'full', init: join(root, 'no-such.pt') }));
  const oddName = join(root, 'my tile.tif');
  await writeFile(oddName, await readFile(join(data, 'train', (await readdir(join(data, 'train')))[0]!)));
  const cases: [string[], RegExp][] = [
    [['predict', '--weights', dir, '--source', oddName], /my tile\.tif: the tile id is taken from the file name, and "my tile" .*rename the file/],
    [['data', 'folds', data, '-k', '50'], /50 folds of \d+ tiles leave \d+ folds empty .*use fewer folds \(-k\); nothing was written/],
    [['predict', '--weights', empty, '--source', data], /empty\.txt: is a file, not a checkpoint directory/],
    [['pipeline', '--config', badInit], /bad-init\.json: init: .*no-such\.pt not found; expected official weights/],
    [['train', '--data', data, '--batch', '0'], /option '--batch <n>' argument '0' is invalid\. expected an integer >= 1/],
    [['train', '--data', data, '--epochs', '0'], /option '--epochs <n>' argument '0' is invalid/],
    [['train', '--data', data, '--imgsz', '100'], /option '--imgsz <px>' argument '100' is invalid\. expected a multiple of 32/],
    [['train', '--data', data, '--lr0', '-0.5'], /option '--lr0 <x>' argument '-0.5' is invalid/],
    [['train', '--data', data, '--nbs', '0'], /option '--nbs <n>'/],
    [['train', '--data', data, '--val-interval', '0'], /option '--val-interval <n>'/],
    [['train', '--data', data, '--mosaic', '1.5'], /option '--mosaic <x>' argument '1.5' is invalid\. expected a number <= 1/],
    [['train', '--data', empty], /empty\.txt: is a file, not a directory; expected a dataset directory/],
    [['predict', '--weights', dir, '--source', data, '--conf', '2'], /option '--conf <x>' argument '2' is invalid/],
    [['predict', '--weights', dir, '--source', data, '--iou', '5'], /option '--iou <x>'/],
    [['predict', '--weights', dir, '--source', data, '--max-det', '-1'], /option '--max-det <n>'/],
    [['predict', '--weights', dir, '--source', data, '--dilate', '-1'], /option '--dilate <px>'/],
    [['predict', '--weights', dir, '--source', data, '--threads', '-1'], /option '--threads <n>'/],
    [['predict', '--weights', dir, '--source', data, '--workers', '-2'], /option '--workers <n>'/],
    [['predict', '--weights', dir, '--source', data, '--ids', empty], /--ids .*empty\.txt: the file lists no tile ids, so there is nothing to do/],
    [['eval', '--data', data, '--pred', empty, '--iou', '2'], /option '--iou <t>' argument '2' is invalid/],
    [['eval', '--data', data, '--pred', dir], /a-dir: is a directory; expected a predictions file/],
    [['eval', '--data', data, '--pred', join(root, 'nope.csv')], /nope\.csv: not found; expected a predictions file/],
    [['eval', '--data', data, '--pred', empty, '--ids', empty], /--ids .*the file lists no tile ids/],
    [['synth', '--out', join(root, 'never'), '--detail', 'maybe'], /option '--detail <x>' argument 'maybe' is invalid\. expected true or false/],
    [['submission', 'check', dir], /a-dir: is a directory; expected a submission CSV/],
    [['pipeline', '--config', dir], /a-dir: is a directory; expected a pipeline config file/],
  ];
  const results = await Promise.all(cases.map(([args]) => vascseg(...args)));
  results.forEach((r, k) => {
    const [args, expected] = cases[k]!;
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}`);
    assert.match(r.stderr, expected, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at |\x1b\[/, `${args.join(' ')}: a stack trace or terminal colours`);
  });
});

test('tile_meta.csv as other tools write it: BOM, CRLF, quoted header, pandas floats, semicolons', async () => {
  const dir = join(root, 'dialects');
  const { tiles } = await writeSmallDataset(dir);
  const rows = tiles.map((t) => [t.id, t.sourceWsi, t.dataset, `${t.i}.0`, t.j]);
  const expected = (await loadDataset(dir)).tiles;
  for (const [name, text] of [
    ['pandas', `\uFEFF"id","source_wsi","dataset","i","j"\r\n${rows.map((r) => r.join(',')).join('\r\n')}\r\n`],
    ['semicolons', `id;source_wsi;dataset;i;j\n${rows.map((r) => r.join(';')).join('\n')}\n`],
  ] as const) {
    await writeFile(join(dir, 'tile_meta.csv'), text);
    assert.deepEqual((await loadDataset(dir)).tiles, expected, name);
  }
  await writeFile(join(dir, 'tile_meta.csv'), `id,source_wsi,dataset,i\n${rows.map((r) => r.slice(0, 4).join(',')).join('\n')}\n`);
  await assert.rejects(loadDataset(dir), /tile_meta\.csv: line 1: missing column j \(header is "id,source_wsi,dataset,i"\)/);
});
