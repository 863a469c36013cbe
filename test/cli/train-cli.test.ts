import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg } from '../helpers/cli.ts';

test('vascseg train: flags reach the trainer (augmentation knobs included) and the run layout appears', async () => {
  const root = await tempDir();
  const data = join(root, 'tiny');
  assert.equal((await vascseg('synth', '--out', data, '--preset', 'tiny', '--workers', '0')).code, 0);
  const r = await vascseg('train', '--data', data, '--project', join(root, 'runs'), '--name', 'cli', '--imgsz', '128', '--epochs', '1',
    '--batch', '3', '--device', 'wasm', '--mosaic', '0.25', '--hsv-v', '0.1', '--stitch', '0.5', '--optimizer', 'adamw', '--lr0', '0.002');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /epoch 1\/1: box .* val AP@0\.6 \d\.\d{4}/);
  const args = JSON.parse(await readFile(join(root, 'runs', 'cli', 'args.json'), 'utf8'));
  assert.deepEqual([args.augment.mosaic, args.augment.hsvV, args.augment.stitch, args.optimizer, args.lr0], [0.25, 0.1, 0.5, 'adamw', 0.002]);
  const bad = await vascseg('train', '--data', data, '--project', join(root, 'runs'), '--train-datasets', '9', '--epochs', '1');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /the training set is empty/);
});
