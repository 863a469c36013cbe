import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildYolov7Seg, modelConfig, outputsPerAnchor } from '../../src/model/yolov7seg.ts';
import { parameterCount } from '../../src/model/graph.ts';

test('YOLOv7-seg graph: heads at strides 8/16/32, prototypes at stride 4, named sizes', () => {
  for (const size of ['tiny', 'small', 'full']) {
    const config = modelConfig(size);
    const g = buildYolov7Seg(config);
    assert.deepEqual(g.heads.map((h) => g.layers[h]!.stride), [8, 16, 32]);
    assert.deepEqual(g.heads.map((h) => g.layers[h]!.channels), [3, 3, 3].map((a) => a * outputsPerAnchor(config)));
    assert.equal(g.layers[g.proto]!.stride, 4);
    assert.equal(g.layers[g.proto]!.channels, 32);
    // Every layer reads only earlier layers.
    for (const l of g.layers) {
      const from = 'from' in l ? (Array.isArray(l.from) ? l.from : [l.from]) : [];
      for (const f of from) assert.ok(f < l.id, `${l.name} reads layer ${f}`);
    }
  }
  const full = parameterCount(buildYolov7Seg(modelConfig('full')));
  const tiny = parameterCount(buildYolov7Seg(modelConfig('tiny')));
  // YOLOv7-seg is ~38M parameters with RepConv fused; tiny must train on 2 CPU cores.
  assert.ok(full > 30e6 && full < 45e6, `full: ${full}`);
  assert.ok(tiny < 1e6, `tiny: ${tiny}`);
  assert.throws(() => modelConfig('huge'), /unknown model size "huge"/);
});
