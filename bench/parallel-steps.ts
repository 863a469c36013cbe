/**
 * npm run bench:parallel-steps [-- --size full --imgsz 256 --steps 3 --rounds 2]
 *
 * How well the onnx engine's training step uses two cores, and what running two steps at once
 * would give: one engine on 2 onnxruntime threads, one engine on 1 thread, and two 1-thread
 * engines in two worker threads stepping at the same time (each on its own batch of 4, with the
 * same weights: what the micro-batches of one gradient-accumulation window are), in alternating
 * rounds. Prints milliseconds per step (for the two engines: wall time over the steps of both,
 * i.e. throughput). Each step is bench:saved-convs' fixture: forward graph, our loss, backward
 * graph. Measured only: the trainer runs one step at a time (vascseg's default nominal batch
 * is the batch, so no two steps share weights).
 */
import { Worker } from 'node:worker_threads';

const argOf = (name: string, def: string) => { const k = process.argv.indexOf(name); return k > 0 ? process.argv[k + 1]! : def; };
const size = argOf('--size', 'full'), px = Number(argOf('--imgsz', '256'));
const steps = Number(argOf('--steps', '3')), rounds = Number(argOf('--rounds', '2'));

/** Milliseconds per step of `engines` engines with `threads` onnxruntime threads each, stepping at once. */
async function perStep(engines: number, threads: number): Promise<number> {
  const workers = Array.from({ length: engines }, () => new Worker(new URL('./parallel-steps-entry.mjs', import.meta.url), { workerData: { size, px, threads } }));
  try {
    // Each worker builds its fixture and sessions and takes one untimed step first.
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); })));
    const t = performance.now();
    await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage(steps); })));
    return (performance.now() - t) / (steps * engines);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

const contenders = [['1 engine, 2 threads', 1, 2], ['1 engine, 1 thread', 1, 1], ['2 engines at once, 1 thread each', 2, 1]] as const;
const times = contenders.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) for (const [k, [, engines, threads]] of contenders.entries()) times[k]!.push(await perStep(engines, threads));
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const base = med(times[0]!);
contenders.forEach(([name], k) => console.log(`${size} at ${px} px, batch 4, ${name}: ${med(times[k]!).toFixed(0)} ms per step (rounds ${times[k]!.map((v) => v.toFixed(0)).join(' / ')}), ${(med(times[k]!) / base).toFixed(2)}x the first`));
