import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';
import { writeSmallDataset } from '../helpers/dataset.ts';
import { loadGroundTruth } from '../../src/eval/groundtruth.ts';
import { formatSubmission } from '../../src/eval/submission.ts';
import { toCocoResults } from '../../src/eval/export.ts';
import { evaluateOid } from '../../src/eval/metric.ts';
import { simulatePredictions } from '../../src/eval/simulate.ts';

test('vascseg eval: the AP line, --json, --ids, COCO input, and errors', async () => {
  const dir = await tempDir();
  await writeSmallDataset(dir);
  const gt = await loadGroundTruth(dir);
  const preds = simulatePredictions(gt.values(), { seed: 9, perTile: 4, recall: 0.7 });
  const sub = join(dir, 'submission.csv');
  await writeFile(sub, formatSubmission(preds));
  const expected = evaluateOid(gt, new Map(preds.map((p) => [p.id, p.detections])));

  const text = await vascseg('eval', '--data', dir, '--pred', sub);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^AP@0.6: ${expected.ap.toFixed(6)}$`, 'm'));

  const json = JSON.parse((await vascseg('eval', '--data', dir, '--pred', sub, '--json')).stdout) as Record<string, number>;
  assert.equal(json.ap, expected.ap);
  assert.deepEqual([json.tp, json.fp, json.num_gt], [expected.tp, expected.fp, expected.numGt]);

  const coco = join(dir, 'results.json');
  await writeFile(coco, JSON.stringify(toCocoResults(preds)));
  const viaCoco = JSON.parse((await vascseg('eval', '--data', dir, '--pred', coco, '--json')).stdout) as Record<string, number>;
  assert.equal(viaCoco.ap, expected.ap);

  const ids = join(dir, 'ids.txt');
  await writeFile(ids, 'aaaaaaaaaaa1\n');
  const one = JSON.parse((await vascseg('eval', '--data', dir, '--pred', sub, '--ids', ids, '--json')).stdout) as Record<string, number>;
  assert.equal(one.num_gt, 2);

  const cocoAp = await vascseg('eval', '--data', dir, '--pred', sub, '--metric', 'coco');
  assert.match(cocoAp.stdout, /^mask AP@\[\.50:\.95\] \(coco\): \d\.\d{6}$/m);

  await writeFile(sub, formatSubmission([...preds, { id: 'ffffffffffff', height: 512, width: 512, detections: [] }]));
  const unknown = await vascseg('eval', '--data', dir, '--pred', sub);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /predictions for 1 tile not in the ground truth: ffffffffffff/);
});

test('vascseg submission check: valid file, and every bad row named', async () => {
  const dir = await tempDir();
  await writeSmallDataset(dir);
  const gt = await loadGroundTruth(dir);
  const sub = join(dir, 'submission.csv');
  await writeFile(sub, formatSubmission(simulatePredictions(gt.values(), { perTile: 3 })));
  const ok = await vascseg('submission', 'check', sub, '--data', dir);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /3 rows, 9 detections\nsubmission is valid/);
  await writeFile(sub, 'id,height,width,prediction_string\naaaaaaaaaaa1,512,512,0 2 xyz\nnope,512,512,\n');
  const bad = await vascseg('submission', 'check', sub, '--data', dir);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /line 2: tile aaaaaaaaaaa1: detection 1: confidence must be a number in \[0, 1\], got "2"/);
  assert.match(bad.stdout, /line 3: tile nope: tile id is not in the dataset/);
});
