/**
 * npm run bench:engine [-- --sizes 256,640 --batch 4] — forward and training-step time of the
 * benchmark net on every tfjs backend we have, and of the same net in PyTorch when
 * `/usr/bin/python3 -c "import torch"` works (Debian's python3-torch), printing ratios.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupBackend, tf } from '../src/engine/backend.ts';
import { netSpec, TfNet } from './engine-net.ts';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const sizes = argOf('--sizes', '256,640').split(',').map(Number);
const batch = Number(argOf('--batch', '4'));
const backends = argOf('--backends', 'wasm').split(',');
const spec = netSpec();

function median(times: number[]): number { return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!; }

function time(fn: () => void, repeats: number): number {
  fn(); fn();
  const times: number[] = [];
  for (let k = 0; k < repeats; k++) { const t = performance.now(); fn(); times.push(performance.now() - t); }
  return median(times);
}

let torch: Record<string, { forward: number; train: number }> & { params?: number; version?: string } = {};
const python = '/usr/bin/python3';
if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-engine-'));
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
  const r = spawnSync(python, [new URL('./engine_torch.py', import.meta.url).pathname, join(dir, 'spec.json'), String(batch), ...sizes.map(String)], { encoding: 'utf8' });
  if (r.status === 0) torch = JSON.parse(r.stdout);
  else console.error(`pytorch run failed: ${r.stderr}`);
} else {
  console.log('PyTorch not importable by /usr/bin/python3 (apt-get install python3-torch): printing tfjs times only');
}

for (const backend of backends) {
  await setupBackend(backend as 'wasm' | 'cpu', { quiet: true });
  const net = new TfNet(spec);
  if (backend === backends[0]) console.log(`net: ${net.parameterCount.toLocaleString('en-US')} parameters (pytorch: ${torch.params?.toLocaleString('en-US') ?? 'n/a'}), batch ${batch}, pytorch ${torch.version ?? 'n/a'} with 2 threads`);
  for (const size of sizes) {
    const x = tf.randomNormal([batch, size, size, 3]) as tf.Tensor4D;
    const fwd = time(() => tf.tidy(() => { for (const o of net.forward(x)) o.dataSync(); }), 3);
    const train = time(() => { net.trainStep(x); }, 3);
    x.dispose();
    const ref = torch[String(size)];
    const ratio = (v: number, r?: number) => (r ? ` = ${(v / r).toFixed(1)}x pytorch (${r.toFixed(1)} ms)` : '');
    console.log(`forward ${size}: tfjs-${backend} ${fwd.toFixed(1)} ms${ratio(fwd, ref?.forward)}`);
    console.log(`train ${size}: tfjs-${backend} ${train.toFixed(1)} ms${ratio(train, ref?.train)}`);
  }
  for (const v of net.vars) v.dispose();
}
