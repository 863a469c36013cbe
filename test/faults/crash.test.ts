/**
 * A kill at any write loses no finished work: `VASCSEG_FAULT=point:n` SIGKILLs a real
 * `vascseg train` at the n-th pass of each write step (inside the directory swap of
 * weights/last, between the checkpoint and results.csv, before an atomic file's rename),
 * then `--resume` must finish with what an uninterrupted run has, byte for byte.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';
import { vascseg, vascsegWith } from '../helpers/cli.ts';
import { tinyDataset } from '../helpers/tiny.ts';

const root = await tempDir();
const data = join(root, 'tiny');
before(() => tinyDataset(data));

const trainArgs = (name: string) => ['train', '--data', data, '--project', join(root, 'runs'), '--name', name,
  '--imgsz', '64', '--epochs', '3', '--batch', '4', '--no-augment', '--precise-bn', '0', '--threads', '1'];

/** results.csv without its timing column, which no two runs share. */
async function results(run: string): Promise<string> {
  const text = await readFile(join(run, 'results.csv'), 'utf8');
  return text.trim().split('\n').map((l) => l.split(',').slice(0, -1).join(',')).join('\n');
}

test('a SIGKILL at every write step, then --resume: the same results, weights and best as an uninterrupted run', async () => {
  // The uninterrupted reference runs beside the first kills; every comparison waits for it.
  const straight = vascseg(...trainArgs('straight')).then((r) => assert.equal(r.code, 0, r.stderr));
  straight.catch(() => undefined); // handled here, failed by the awaits below
  const reference = join(root, 'runs', 'straight');
  // Hit counts chosen to land in the second or third epoch (each epoch writes best at most
  // once, last once, and two tables).
  const points = ['dir:filled:3', 'dir:next:3', 'dir:prev:3', 'dir:swapped:3', 'train:saved:2', 'file:written:4'];
  // Each point in its own run directory, three at a time (the runs are mostly process start-up).
  const pending = [...points];
  await Promise.all([0, 1, 2].map(async () => { for (let point = pending.shift(); point; point = pending.shift()) await killAndResume(point); }));
  await straight;
  async function killAndResume(point: string): Promise<void> {
    const name = `killed-${point.replace(/:/g, '-')}`;
    const [where, n] = [point.slice(0, point.lastIndexOf(':')), point.slice(point.lastIndexOf(':') + 1)];
    const killed = await vascsegWith({ VASCSEG_FAULT: `${where}:${n}` }, ...trainArgs(name));
    assert.equal(killed.signal, 'SIGKILL', `${point}: the fault point was not reached (${killed.stderr})`);
    const resumed = await vascseg(...trainArgs(name), '--resume');
    assert.equal(resumed.code, 0, `${point}: ${resumed.stderr}`);
    const run = join(root, 'runs', name);
    await straight;
    assert.equal(await results(run), await results(reference), `${point}: results.csv`);
    for (const w of ['last', 'best']) {
      assert.deepEqual(await readFile(join(run, 'weights', w, 'weights.bin')), await readFile(join(reference, 'weights', w, 'weights.bin')), `${point}: weights/${w}`);
    }
    assert.deepEqual((await readdir(join(run, 'weights'))).sort(), ['best', 'last'], `${point}: no temporary siblings left`);
  }
});
