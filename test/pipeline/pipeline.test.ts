import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPipelineConfig, resolveConfig } from '../../src/pipeline/config.ts';
import { planStages } from '../../src/pipeline/stages.ts';
import { selectPseudoLabels } from '../../src/pseudo/pseudo.ts';
import { encodeMask } from '../../src/eval/rle.ts';
import { rasterize } from '../../src/data/rasterize.ts';
import { loadDataset } from '../../src/data/dataset.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startCli, vascseg } from '../helpers/cli.ts';
import { tinyDataset } from '../helpers/tiny.ts';

const root = await tempDir();
const data = join(root, 'tiny');
before(() => tinyDataset(data));

test('config: presets, JSON and YAML files over a preset, and errors that name the setting', async () => {
  const seed = await loadPipelineConfig(undefined, 'seed');
  assert.deepEqual([seed.imgsz, seed.folds, seed.finetune.epochs, seed.ensembleFolds, seed.pseudo.conf, seed.pseudo.tileConf, seed.predict.conf, seed.predict.iou], [640, 5, 100, [0, 1, 4], 0.5, 0.6, 0.001, 0.55]);
  assert.deepEqual(planStages(seed).map((s) => s.name), ['pretrain-ds2', 'finetune-ds1', 'pseudo-1', 'pretrain-pseudo-1', 'finetune-ds1-2', 'predict', 'evaluate']);
  assert.deepEqual(planStages(resolveConfig({ pseudo: { rounds: 2 } }, 'x')).map((s) => s.name).slice(2, 8), ['pseudo-1', 'pretrain-pseudo-1', 'finetune-ds1-2', 'pseudo-2', 'pretrain-pseudo-2', 'finetune-ds1-3']);
  assert.deepEqual(planStages(resolveConfig({ pseudo: { rounds: 0 } }, 'x')).map((s) => s.name), ['pretrain-ds2', 'finetune-ds1', 'predict', 'evaluate']);
  const fromDs2 = planStages(resolveConfig({ pretrainPseudo: { epochs: 5, init: 'pretrain-ds2' } }, 'x')).find((s) => s.name === 'pretrain-pseudo-1')!;
  assert.deepEqual([fromDs2.deps, fromDs2.kind === 'train' ? fromDs2.init : null], [['pseudo-1', 'pretrain-ds2'], 'pretrain-ds2']);
  const fromScratch = planStages(seed).find((s) => s.name === 'pretrain-pseudo-1')!;
  assert.equal(fromScratch.kind === 'train' ? fromScratch.init : 'x', undefined, 'the seed pretrains on pseudo labels from scratch');
  const yaml = join(root, 'c.yaml');
  await writeFile(yaml, 'imgsz: 320\nfinetune: { epochs: 7 }\n');
  const demo = await loadPipelineConfig(yaml, 'demo');
  assert.deepEqual([demo.imgsz, demo.finetune.epochs, demo.folds], [320, 7, 3], 'file keys over the demo preset');
  const json = join(root, 'c.json');
  await writeFile(json, JSON.stringify({ folds: 3, ensembleFolds: [0, 4] }));
  await assert.rejects(loadPipelineConfig(json, 'seed'), /c\.json: ensembleFolds: fold 4 does not exist with folds: 3/);
  await writeFile(json, JSON.stringify({ imgsz: 100 }));
  await assert.rejects(loadPipelineConfig(json, 'seed'), /c\.json: imgsz: Number must be a multiple of 32/);
  await writeFile(json, JSON.stringify({ epochs: 3 }));
  await assert.rejects(loadPipelineConfig(json, 'seed'), /c\.json: \(root\): Unrecognized key\(s\) in object: 'epochs'/);
  await writeFile(yaml, 'imgsz: [1\n');
  await assert.rejects(loadPipelineConfig(yaml, 'seed'), /c\.yaml: not valid YAML/);
  await assert.rejects(loadPipelineConfig(join(root, 'none.yaml'), 'seed'), /none\.yaml: not found; expected a pipeline config file/);
});

test('pseudo labels: instances above 0.5 on tiles whose mean kept score is above 0.6, as polygons of their masks', () => {
  const square = (x: number, y: number, s: number) => {
    const m = new Uint8Array(512 * 512);
    for (let yy = y; yy < y + s; yy++) for (let xx = x; xx < x + s; xx++) m[yy * 512 + xx] = 1;
    return encodeMask(m, 512, 512);
  };
  const p = (score: number, x: number) => ({ score, box: [x, 10, x + 20, 30] as [number, number, number, number], rle: square(x, 10, 20), source: 'model 0' });
  const kept = selectPseudoLabels('t', [p(0.9, 10), p(0.7, 50), p(0.4, 90)], { conf: 0.5, tileConf: 0.6 })!;
  assert.equal(kept.annotations.length, 2, 'the 0.4 instance is dropped');
  assert.ok(Math.abs(kept.meanScore - 0.8) < 1e-9);
  const back = rasterize(kept.annotations[0]!.coordinates, 512, 512);
  assert.deepEqual(encodeMask(back, 512, 512), square(10, 10, 20), 'the polygon fills back to the mask');
  assert.equal(selectPseudoLabels('t', [p(0.55, 10), p(0.6, 50)], { conf: 0.5, tileConf: 0.6 }), null, 'mean 0.575: the tile is dropped');
  assert.equal(selectPseudoLabels('t', [p(0.3, 10)], { conf: 0.5, tileConf: 0.6 }), null);
});

/** Run the pipeline CLI; with `killAfter`, SIGKILL it as soon as a line matches. */
async function pipeline(args: string[], killAfter?: RegExp): Promise<{ out: string; code: number | null; signal: string | null }> {
  const p = startCli(['pipeline', ...args]);
  if (killAfter) await p.waitFor(killAfter).then(() => p.child.kill('SIGKILL'), () => {});
  const { code, signal } = await p.exited;
  return { out: p.out(), code, signal };
}

test('vascseg pipeline: killed with -9 mid-stage, rerun resumes; finished stages are skipped; a changed setting reruns what depends on it', async () => {
  const config = join(root, 'pipe.yaml');
  await writeFile(config, ['imgsz: 64', 'folds: 2', 'ensembleFolds: [0, 1]', 'optimizer: adamw', 'lr0: 0.003', 'batch: 2', 'preciseBn: 1',
    'pretrainDs2: { epochs: 1 }', 'finetune: { epochs: 2 }', 'pretrainPseudo: { epochs: 1 }', 'pseudo: { conf: 0.01, tileConf: 0.01 }'].join('\n'));
  const args = ['--data', data, '--config', config, '--project', join(root, 'runs'), '--name', 'p', '--workers', '1'];
  const dir = join(root, 'runs', 'p');

  const killed = await pipeline(args, /finetune-ds1\] fold0 epoch 1\/2/);
  assert.equal(killed.signal, 'SIGKILL', killed.out);
  assert.ok(await access(join(dir, 'pretrain-ds2', 'done.json')).then(() => true, () => false));
  assert.ok(!(await access(join(dir, 'finetune-ds1', 'done.json')).then(() => true, () => false)), 'the interrupted stage is not marked done');

  const resumed = await pipeline(args);
  assert.equal(resumed.code, 0, resumed.out);
  assert.match(resumed.out, /\[1\/7 pretrain-ds2\] done earlier .* skipped/);
  assert.match(resumed.out, /\[2\/7 finetune-ds1\] .*\(resuming\)/);
  assert.doesNotMatch(resumed.out, /finetune-ds1\] fold0 epoch 1\/2/, 'fold 0 continues from its last checkpoint, epoch 1 is not redone');
  assert.match(resumed.out, /finetune-ds1\] fold0 epoch 2\/2/);
  const summary = JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8'));
  assert.deepEqual(summary.rows.map((r: { stage: string }) => r.stage), ['pretrain-ds2', 'finetune-ds1', 'pseudo-1', 'pretrain-pseudo-1', 'finetune-ds1-2', 'predict']);
  for (const r of summary.rows.filter((x: { kind: string }) => x.kind === 'train')) {
    assert.ok(r.oofAp >= 0 && r.oofAp <= 1 && r.hiddenAp >= 0 && r.hiddenAp <= 1, JSON.stringify(r));
  }
  assert.equal(summary.expertTiles, 6);
  assert.equal(summary.hiddenTiles, 2);
  assert.ok(summary.rows[2].pseudo.tilesPredicted === 6 && summary.rows[2].pseudo.quality.truthVessels > 0);
  const md = await readFile(join(dir, 'summary.md'), 'utf8');
  assert.match(md, /\| finetune-ds1-2 \| .* \| vs finetune-ds1: [+-]\d\.\d{4}/);
  const sub = await vascseg('submission', 'check', join(dir, 'predict', 'submission.csv'));
  assert.equal(sub.code, 0, sub.stdout);
  // The pseudo-labelled dataset is a dataset like any other.
  const pseudoData = await loadDataset(join(dir, 'pseudo-1', 'data'), { strict: true });
  assert.ok([...pseudoData.labels.keys()].some((id) => pseudoData.tileById.get(id)!.dataset === 3), 'dataset-3 tiles carry pseudo labels');

  const again = await pipeline(args);
  assert.equal(again.code, 0);
  assert.equal((again.out.match(/done earlier/g) ?? []).length, 7, again.out);

  await writeFile(config, (await readFile(config, 'utf8')).replace('tileConf: 0.01', 'tileConf: 0.02'));
  const changed = await pipeline(args);
  assert.equal(changed.code, 0, changed.out);
  assert.match(changed.out, /\[2\/7 finetune-ds1\] done earlier/);
  assert.match(changed.out, /\[3\/7 pseudo-1\] pseudo-label/);
  assert.match(changed.out, /\[5\/7 finetune-ds1-2\] fine-tune/);
});
