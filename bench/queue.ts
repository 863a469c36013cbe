/**
 * npm run bench:queue -- [--repeats 15] [--finetune RUN_DIR] [--stage-repeats 2] [--work DIR]
 *
 * What the queue executor costs and what two workers buy on this machine. It starts its own
 * redis-server (on PATH) on a free loopback port and its own `vascseg worker`s.
 *
 *   1. Overhead per job: the same trivial job (a prediction job with no tiles: the worker's
 *      child process starts, loads the dataset, writes an empty result) run --repeats times
 *      by the local executor's child process and through the queue, interleaved. From the
 *      queue's own timestamps: enqueue to start (with an idle worker), finish to the pipeline
 *      seeing it; and the round trip against the local one's.
 *   2. With --finetune RUN_DIR (a finished demo pipeline run, e.g. runs/pipeline/exp): the
 *      finetune-ds1 stage (3 folds) run again from that run's pretrain-ds2, by the local
 *      executor (2 fold processes, one onnxruntime thread each, as the pipeline's default on 2
 *      cores) and by the queue with two workers (`--threads 1` each), interleaved
 *      --stage-repeats times; the stage's wall time from its done.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { generateDataset } from '../src/synth/generate.ts';
import { presetConfig } from '../src/synth/config.ts';
import { DEFAULT_PREDICT } from '../src/infer/predict.ts';
import { runJobProcess } from '../src/jobs/executor.ts';
import { QueueExecutor } from '../src/jobs/queue.ts';
import type { PredictJob } from '../src/jobs/jobs.ts';
import { flagReader } from './flags.ts';

const flag = flagReader('bench/queue.ts');
const repeats = Number(flag('--repeats', '15'));
const finetune = flag('--finetune', '') || undefined;
const stageRepeats = Number(flag('--stage-repeats', '2'));
const work = resolve(flag('--work', join('runs', 'bench', 'queue')));
const bin = new URL('../bin/vascseg.js', import.meta.url).pathname;
await mkdir(work, { recursive: true });

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const spread = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;

function freePort(): Promise<number> {
  return new Promise((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => res(port)); }); });
}

/** Start a process and resolve once its output matches `ready`. */
function startUntil(cmd: string, argv: string[], ready: RegExp): Promise<ChildProcess> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (ready.test(out)) res(c); });
    c.on('exit', (code) => rej(new Error(`${cmd} exited (${code}) before ${ready}: ${out}`)));
  });
}

const port = await freePort();
const url = `redis://127.0.0.1:${port}`;
const children: ChildProcess[] = [];
const stopAll = () => { for (const c of children) c.kill('SIGKILL'); };
process.on('exit', stopAll);
children.push(await startUntil('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/));
const startWorker = async () => children.push(await startUntil(process.execPath, [bin, 'worker', '--redis', url, '--threads', '1', '--queue', 'bench'], /waiting for jobs/));

// 1. Overhead per job.
const data = join(work, 'tiny');
await generateDataset(presetConfig('tiny', 0), data, { workers: 0 });
const stageDir = join(work, 'stage');
await mkdir(stageDir, { recursive: true });
await writeFile(join(stageDir, 'stage.json'), JSON.stringify({ hash: 'bench' }));
const trivial = (id: string): PredictJob => ({ kind: 'predict', id, label: id, stageDir, stageHash: 'bench', data, split: 'train', opts: { ...DEFAULT_PREDICT, imgsz: 64 }, parts: [], tiles: 0, out: join(stageDir, 'jobs', `${id}.json`) });
await startWorker();
const executor = await QueueExecutor.open({ redis: url, queue: 'bench', shardTiles: 50, log: () => {} });
const reader = new Queue('bench', { connection: new Redis(url, { maxRetriesPerRequest: null }) });
const local: number[] = [], queued: number[] = [], toStart: number[] = [], toSeen: number[] = [];
const stamp = Date.now();
for (let r = 0; r < repeats; r++) {
  let t = performance.now();
  await runJobProcess(trivial(`local-${stamp}-${r}`), 1, () => {});
  local.push(performance.now() - t);
  const id = `queue-${stamp}-${r}`;
  t = performance.now();
  await executor.run([trivial(id)], '', () => {});
  const seen = Date.now();
  queued.push(performance.now() - t);
  const job = (await reader.getJob(id))!;
  toStart.push(job.processedOn! - job.timestamp);
  toSeen.push(seen - job.finishedOn!);
}
await executor.close();
await reader.close();
console.log(`trivial job (${repeats} each, interleaved): local child process ${spread(local)}; through the queue ${spread(queued)}`);
console.log(`  queue: enqueue to start ${spread(toStart)}; finish to the pipeline seeing it ${spread(toSeen)}; queue round trip minus local: median ${(median(queued) - median(local)).toFixed(0)} ms`);

// 2. The finetune stage, local vs two workers.
if (finetune) {
  await startWorker();
  const run = async (name: string, extra: string[]): Promise<number> => {
    const dir = join(work, 'runs', name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await cp(join(finetune, 'pretrain-ds2'), join(dir, 'pretrain-ds2'), { recursive: true });
    const p = spawn(process.execPath, [bin, 'pipeline', '--project', join(work, 'runs'), '--name', name, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((res, rej) => {
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/\[2\/7 finetune-ds1\] finished in/.test(out)) { p.kill('SIGKILL'); res(); }
      });
      p.on('exit', () => (/finetune-ds1\] finished in/.test(out) ? res() : rej(new Error(out))));
    });
    if (!/\[1\/7 pretrain-ds2\] done earlier/.test(out)) throw new Error(`${finetune}/pretrain-ds2 is not this checkout's demo stage (it was retrained):\n${out}`);
    return (JSON.parse(await readFile(join(dir, 'finetune-ds1', 'done.json'), 'utf8')) as { seconds: number }).seconds;
  };
  const times = { local: [] as number[], queue: [] as number[] };
  for (let r = 0; r < stageRepeats; r++) {
    times.local.push(await run(`local-${r}`, ['--workers', '2']));
    times.queue.push(await run(`queue-${r}`, ['--executor', 'queue', '--redis', url, '--queue', 'bench']));
    console.log(`finetune-ds1 repeat ${r + 1}: local ${times.local[r]!.toFixed(1)} s, queue with 2 workers ${times.queue[r]!.toFixed(1)} s`);
  }
  console.log(`finetune-ds1 (3 folds): local median ${median(times.local).toFixed(1)} s (${times.local.map((t) => t.toFixed(1)).join(', ')}); queue, 2 workers x 1 thread: median ${median(times.queue).toFixed(1)} s (${times.queue.map((t) => t.toFixed(1)).join(', ')}); ratio ${(median(times.queue) / median(times.local)).toFixed(3)}`);
}
stopAll();
process.exit(0);
