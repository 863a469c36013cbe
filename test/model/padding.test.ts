import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig, type ModelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { saveCheckpoint } from '../../src/model/checkpoint.ts';
import { openRuntime, outputArrays, type RawOutputs } from '../../src/infer/runtime.ts';
import { digest, paddingFixtureInput, PADDING_FIXTURE_SIZE, tfjsOutputs as tfjsOutputsOf, randomizeWeights } from '../../scripts/make-padding-fixture.ts';
import { tempDir } from '../helpers/tmp.ts';

type Digest = ReturnType<typeof digest>;
/** Written by scripts/make-padding-fixture.ts at a commit from before padding was a setting. */
const fixture = JSON.parse(readFileSync(new URL('../fixtures/same-padding.json', import.meta.url), 'utf8')) as { commit: string; tfjs: Digest; onnx: Digest };

before(() => setupBackend('cpu', { quiet: true }).then(() => undefined));
const root = await tempDir();
const S = PADDING_FIXTURE_SIZE;

function assertSameDigest(actual: Digest, expected: Digest, what: string): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, k) => {
    const e = expected[k]!;
    assert.deepEqual(a.shape, e.shape, `${what} output ${k} shape`);
    assert.ok(Math.abs(a.sumSq - e.sumSq) <= 1e-5 * e.sumSq, `${what} output ${k}: sum of squares ${a.sumSq} vs ${e.sumSq}`);
    const worst = Math.max(...a.samples.map((v, i) => Math.abs(v - e.samples[i]!)));
    assert.ok(worst <= 1e-5, `${what} output ${k}: samples differ by ${worst}`);
  });
}

const tfjsOutputs = (model: TfModel): RawOutputs => tfjsOutputsOf(model, paddingFixtureInput());

test(`checkpoints without a padding field are SAME-padded and compute what they did before (fixture of ${fixture.commit})`, async () => {
  const config: ModelConfig = modelConfig('tiny');
  delete config.padding;
  const model = new TfModel(buildYolov7Seg(config), config, 0);
  randomizeWeights(model);
  assert.equal(model.graph.padding, 'same');
  assertSameDigest(digest(tfjsOutputs(model)), fixture.tfjs, 'tfjs');
  const dir = join(root, 'old-style');
  await saveCheckpoint(dir, model, { imgsz: S, epoch: 0, metrics: {} });
  model.dispose();
  for (const runtime of ['tfjs', 'onnx'] as const) {
    const r = await openRuntime(dir, runtime, { threads: 1 });
    assert.equal(r.config.padding, undefined);
    assertSameDigest(digest(await r.run(paddingFixtureInput(), 2, S)), runtime === 'onnx' ? fixture.onnx : fixture.tfjs, `reloaded ${runtime}`);
    await r.dispose();
  }
});

test('new models pad as PyTorch (symmetric): the stride-2 windows move, and onnxruntime agrees with tfjs', async () => {
  const config = modelConfig('tiny');
  assert.equal(config.padding, 'symmetric');
  const model = new TfModel(buildYolov7Seg(config), config, 0);
  randomizeWeights(model);
  const mine = tfjsOutputs(model);
  // Same weights, other padding: the outputs must differ (else the setting did nothing).
  const moved = Math.max(...digest(mine).flatMap((d, k) => d.samples.map((v, i) => Math.abs(v - fixture.tfjs[k]!.samples[i]!))));
  // Measured 6.2e-4; the SAME fixture's tolerance is 1e-5, so it tells the two apart.
  assert.ok(moved > 1e-4, `symmetric padding changes the outputs (largest sample change ${moved})`);
  const dir = join(root, 'symmetric');
  await saveCheckpoint(dir, model, { imgsz: S, epoch: 0, metrics: {} });
  model.dispose();
  const onnx = await openRuntime(dir, 'onnx', { threads: 1 });
  assert.equal(onnx.config.padding, 'symmetric');
  const theirs = await onnx.run(paddingFixtureInput(), 2, S);
  await onnx.dispose();
  [...mine.heads, mine.proto].forEach((a, k) => {
    const b = [...theirs.heads, theirs.proto][k]!;
    let worst = 0, scale = 0;
    for (let i = 0; i < a.data.length; i++) { worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!)); scale = Math.max(scale, Math.abs(a.data[i]!)); }
    assert.ok(worst <= 1e-4 * Math.max(scale, 1), `output ${k}: onnx vs tfjs ${worst}`);
  });
});

test('any width multiple builds the official architecture: full ELAN depth, channels rounded up to 8', () => {
  const c = modelConfig('w0.125');
  assert.deepEqual([c.width, c.depth, c.protoChannels, c.padding], [0.125, 2, 32, 'symmetric']);
  const g = buildYolov7Seg(c);
  assert.equal(g.layers.filter((l) => l.op === 'conv' && l.name.startsWith('backbone.elan1.m')).length, 4, 'four chained 3x3 convs per ELAN block');
  assert.equal(g.layers.find((l) => l.name === 'backbone.stem0')!.channels, 8, '32 x 0.125 = 4, rounded up to 8 as make_divisible');
  assert.equal(modelConfig('w0.3').protoChannels, 80, '256 x 0.3 = 76.8 -> 80');
  assert.throws(() => modelConfig('w0'), /width multiple 0 must be in/);
  assert.throws(() => modelConfig('huge'), /unknown model size "huge".*w<width multiple>/);
});
