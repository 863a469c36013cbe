import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AdamW, accumulationAt, clipGlobalNorm, Ema, roundHalfEven, Sgd, type ParamGroup } from '../../src/train/optim.ts';

test('the warm-up accumulation rises as the official train.py computes it (numpy rounding included)', () => {
  // Reference: max(1, np.interp(ni, [0, nw], [1, nbs / batch]).round()) from segment/train.py,
  // evaluated with numpy 1.24 for nbs 64 at batch 4 (nw 100) and at batch 5 (nw 21).
  const at4 = [0, 1, 3, 7, 10, 50, 63, 70, 99, 100].map((ni) => accumulationAt(ni, 100, 64 / 4));
  assert.deepEqual(at4, [1, 1, 1, 2, 2, 8, 10, 12, 16, 16]);
  const at5 = [0, 5, 10, 11, 20, 21].map((ni) => accumulationAt(ni, 21, 64 / 5));
  assert.deepEqual(at5, [1, 4, 7, 7, 12, 13]);
  assert.equal(accumulationAt(500, 100, 16), 16, 'after the warm-up: the nominal batch');
  assert.deepEqual([0.5, 1.5, 2.5, 8.5, 7.49, -7.5].map(roundHalfEven), [0, 2, 2, 8, 7, -8]);
});

test('gradient clipping matches torch.nn.utils.clip_grad_norm_', () => {
  // Reference: clip_grad_norm_([a, b], max_norm=2.0) in PyTorch 1.13 on these gradients.
  const a = Float32Array.from({ length: 12 }, (_, k) => k / 7 - 0.5);
  const b = Float32Array.from([3, -4, 1.5]);
  const grads = new Map([['a', a], ['b', b]]);
  const norm = clipGlobalNorm(grads, 2.0);
  assert.ok(Math.abs(norm - 5.581035614013672) < 1e-5, `norm ${norm}`);
  const wantA = [-0.1791781783103943, -0.127984419465065, -0.07679064571857452, -0.02559688128530979, 0.025596892461180687, 0.07679065316915512,
    0.127984419465065, 0.1791781783103943, 0.23037196695804596, 0.28156569600105286, 0.3327594995498657, 0.3839532136917114];
  const wantB = [1.0750690698623657, -1.4334254264831543, 0.5375345349311829];
  wantA.forEach((v, k) => assert.ok(Math.abs(a[k]! - v) < 1e-6, `a[${k}] ${a[k]} vs ${v}`));
  wantB.forEach((v, k) => assert.ok(Math.abs(b[k]! - v) < 1e-6, `b[${k}] ${b[k]} vs ${v}`));
  // Under the bound: untouched.
  const small = Float32Array.from([0.3, 0.4]);
  assert.ok(Math.abs(clipGlobalNorm(new Map([['b', small]]), 2.0) - 0.5) < 1e-6);
  assert.deepEqual([...small], [Math.fround(0.3), Math.fround(0.4)]);
});

interface OptimFixture {
  shapes: Record<string, number[]>;
  init: Record<string, number[]>;
  grads: Record<string, number[]>[];
  lrs: Record<ParamGroup, number>[];
  momenta: number[];
  weight_decay: number;
  ema: { decay: number; tau: number; after: Record<string, number[]>[] };
  sgd: Record<string, number[]>[];
  adamw: Record<string, number[]>[];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/optim.json', import.meta.url), 'utf8')) as OptimFixture;
const arrays = (values: Record<string, number[]>) => new Map(Object.entries(values).map(([name, v]) => [name, Float32Array.from(v)]));

/** Every parameter after every step within float32 rounding of PyTorch's. */
function assertSteps(label: string, params: Map<string, Float32Array>, want: Record<string, number[]>[], step: (t: number) => void): void {
  want.forEach((after, t) => {
    step(t);
    for (const [name, values] of Object.entries(after)) {
      values.forEach((v, k) => {
        const got = params.get(name)![k]!;
        assert.ok(Math.abs(got - v) <= 2e-7 * Math.max(1, Math.abs(v)), `${label} step ${t + 1} ${name}[${k}]: ${got} vs torch ${v}`);
      });
    }
  });
}

test('SGD (nesterov) and the EMA match PyTorch step by step, with per-group rates and a changing momentum', () => {
  const params = arrays(fixture.init);
  const sgd = new Sgd(params, fixture.momenta[0]!, fixture.weight_decay);
  const shadow = arrays(fixture.init);
  const ema = new Ema(shadow, fixture.ema.decay, fixture.ema.tau);
  const shadows: Record<string, number[]>[] = [];
  assertSteps('sgd', params, fixture.sgd, (t) => {
    sgd.momentum = fixture.momenta[t]!;
    sgd.step(arrays(fixture.grads[t]!), fixture.lrs[t]!);
    ema.update(params);
    shadows.push(Object.fromEntries([...shadow].map(([name, v]) => [name, [...v]])));
  });
  shadows.forEach((s, t) => Object.entries(fixture.ema.after[t]!).forEach(([name, values]) => values.forEach((v, k) => {
    assert.ok(Math.abs(s[name]![k]! - v) <= 2e-7 * Math.max(1, Math.abs(v)), `ema update ${t + 1} ${name}[${k}]: ${s[name]![k]} vs torch ${v}`);
  })));
});

test('AdamW matches PyTorch step by step (decoupled decay on conv weights only)', () => {
  const params = arrays(fixture.init);
  const adam = new AdamW(params, 0.937, 0.999, fixture.weight_decay);
  assertSteps('adamw', params, fixture.adamw, (t) => adam.step(arrays(fixture.grads[t]!), fixture.lrs[t]!));
  assert.equal(adam.t, 4);
});
