/**
 * The queue executor with a real Redis (the test's own redis-server) and real `vascseg worker`
 * processes: the same results as the local executor, workers killed and interrupted mid-fold,
 * Redis restarted under a waiting worker and a waiting pipeline, a job that fails for a real reason, two pipelines on
 * one Redis, and a worker that cannot see the run directory.
 */
import { test, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QueueExecutor } from '../../src/jobs/queue.ts';
import { DEFAULT_TRAIN } from '../../src/train/trainer.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startCli as start, vascseg, type Proc } from '../helpers/cli.ts';
import { startRedis, freePort, type RedisServer } from '../helpers/redis.ts';
import { tinyDataset } from '../helpers/tiny.ts';

const root = await tempDir();
const data = join(root, 'tiny');
const config = join(root, 'pipe.yaml');
const redis: RedisServer = await startRedis();
// Short locks so a killed worker's job is handed on in seconds (the default is 30 s).
const workerEnv = { VASCSEG_QUEUE_LOCK_MS: '1500' };

before(async () => {
  await tinyDataset(data);
  await writeFile(config, ['imgsz: 64', 'folds: 2', 'ensembleFolds: [0, 1]', 'optimizer: adamw', 'lr0: 0.003', 'batch: 2', 'preciseBn: 1',
    'pretrainDs2: { epochs: 1 }', 'finetune: { epochs: 2 }', 'pretrainPseudo: { epochs: 1 }', 'pseudo: { conf: 0.01, tileConf: 0.01 }'].join('\n'));
});

// Workers a test leaves running (it failed before stopping them) would take the next test's jobs.
let workers: Proc[] = [];
afterEach(() => {
  for (const w of workers) w.child.kill('SIGKILL');
  workers = [];
});

async function startWorker(env: Record<string, string> = workerEnv, queue = 'vascseg'): Promise<Proc> {
  const w = start(['worker', '--redis', redis.url, '--threads', '1', '--queue', queue], env);
  workers.push(w);
  await w.waitFor(/waiting for jobs/);
  return w;
}

const pipelineArgs = (name: string, ...extra: string[]) => ['pipeline', '--data', data, '--config', config, '--project', join(root, 'runs'), '--name', name, ...extra];
const queueArgs = (name: string, queue = 'vascseg') => pipelineArgs(name, '--executor', 'queue', '--redis', redis.url, '--queue', queue);

/** What a run produced that must not depend on where its jobs ran. */
const results = ['summary.json', 'predict/submission.csv', 'evaluate/oof-finetune-ds1.csv', 'evaluate/oof-finetune-ds1-2.csv', 'pseudo-1/summary.json',
  'pretrain-ds2/fold0/weights/best/weights.bin', 'finetune-ds1/fold0/weights/last/weights.bin', 'finetune-ds1-2/fold1/weights/best/weights.bin'];

async function sameResults(a: string, b: string): Promise<void> {
  for (const f of results) {
    let x = await readFile(join(root, 'runs', a, f));
    let y = await readFile(join(root, 'runs', b, f));
    // The summary carries stage times; everything else in it must match.
    if (f === 'summary.json') {
      const strip = (buf: Buffer) => JSON.stringify(JSON.parse(buf.toString()), (k, v) => (k === 'seconds' || k === 'markdown' ? undefined : v));
      [x, y] = [Buffer.from(strip(x)), Buffer.from(strip(y))];
    }
    assert.ok(x.equals(y), `${f} differs between ${a} and ${b}`);
  }
}

let local: Promise<void> | null = null;
/** The local executor's run, the reference every queue run must equal (made once). */
function localRun(): Promise<void> {
  local ??= (async () => {
    const r = await vascseg(...pipelineArgs('local', '--workers', '2'));
    assert.equal(r.code, 0, r.stderr);
  })();
  return local;
}

test('--executor queue with two workers: the same summary, submission, out-of-fold predictions and weights as --executor local', { timeout: 300_000 }, async () => {
  await localRun();
  const [a, b] = [await startWorker(), await startWorker()];
  const p = start(queueArgs('queued'));
  const { code } = await p.exited;
  assert.equal(code, 0, p.out());
  await sameResults('local', 'queued');
  assert.match(p.out(), /\[2\/7 finetune-ds1\] 2 jobs on queue vascseg .* 2 workers connected/);
  assert.match(p.out(), /\[2\/7 finetune-ds1\] fold1 epoch 2\/2: .* \| stage ETA/, 'the workers\' progress lines reach the pipeline');
  assert.match(p.out(), /\[3\/7 pseudo-1\] pseudo-label started on/);
  // Both workers took jobs.
  for (const w of [a, b]) assert.match(w.out(), /\] fold\d started on/);
  for (const w of [a, b]) w.child.kill('SIGINT');
  for (const w of [a, b]) assert.equal((await w.exited).code, 0, w.out());
});

test('a worker killed with -9 mid-fold: another takes the job and resumes it from weights/last; Ctrl-C twice hands a job back at once; the results equal an uninterrupted run', { timeout: 300_000 }, async () => {
  await localRun();
  const first = await startWorker();
  const p = start(queueArgs('killed'));
  await first.waitFor(/\[finetune-ds1\] fold0 epoch 1\/2/);
  first.child.kill('SIGKILL');
  const second = await startWorker();
  await second.waitFor(/\[finetune-ds1\] fold0 resuming from .*finetune-ds1\/fold0\/weights\/last/);
  await second.waitFor(/\[finetune-ds1-2\] fold0 epoch 1\/2/);
  second.child.kill('SIGINT');
  await second.waitFor(/stopping: finishing the current job/);
  second.child.kill('SIGINT');
  await second.waitFor(/\[finetune-ds1-2\] fold0 handed back to the queue/);
  assert.equal((await second.exited).code, 0, second.out());
  const third = await startWorker();
  const { code } = await p.exited;
  assert.equal(code, 0, p.out());
  assert.match(third.out(), /\[finetune-ds1-2\] fold0 resuming from/);
  assert.doesNotMatch(second.out(), /\[finetune-ds1\] fold0 epoch 1\/2/, 'the fold continued from its last checkpoint, epoch 1 was not redone');
  await sameResults('local', 'killed');
  third.child.kill('SIGINT');
  await third.exited;
});

test('Redis restarted under a waiting worker, and under a waiting pipeline: both reconnect and the jobs run; a job that fails for a real reason fails once, its error shown by the pipeline', { timeout: 300_000 }, async () => {
  const w = await startWorker();
  await redis.stop();
  await redis.start();
  await w.waitFor(/connected again/);
  // A dataset-2 image that is not a TIFF: the pretraining job fails reading it.
  const bad = join(root, 'bad');
  await cp(data, bad, { recursive: true });
  const meta = (await readFile(join(bad, 'tile_meta.csv'), 'utf8')).split('\n');
  const ds2 = meta.map((l) => l.split(',')).find((cols) => cols[2] === '2')![0]!;
  await writeFile(join(bad, 'train', `${ds2}.tif`), 'not a tiff');
  const badArgs = (name: string, queue: string) => ['pipeline', '--data', bad, '--config', config, '--project', join(root, 'runs'), '--name', name, '--executor', 'queue', '--redis', redis.url, '--queue', queue];
  const failed = new RegExp(`error: \\[1/7 pretrain-ds2\\] fold0 failed on a worker: .*${ds2}\\.tif`);
  const p = start(badArgs('bad', 'vascseg'));
  const { code } = await p.exited;
  assert.equal(code, 1, p.out());
  assert.match(p.out(), failed);
  assert.equal((w.out().match(/\[pretrain-ds2\] fold0 started on/g) ?? []).length, 1, `tried once, not retried:\n${w.out()}`);

  // A pipeline waits on a queue no worker serves; Redis restarts (without persistence: the
  // queued job is gone); the pipeline queues it again, and a worker that comes later runs it.
  const waiting = start(badArgs('bad-waiting', 'later'));
  await waiting.waitFor(/no worker is connected yet/);
  await redis.stop();
  await redis.start();
  await waiting.waitFor(/fold0 vanished from the queue .*: queued again/, 60);
  await startWorker(workerEnv, 'later');
  assert.equal((await waiting.exited).code, 1, waiting.out());
  assert.match(waiting.out(), failed);
  w.child.kill('SIGINT');
  assert.equal((await w.exited).code, 0);
});

test('two pipelines on one Redis at once: each waits for its own jobs, and each equals the local run', { timeout: 300_000 }, async () => {
  await localRun();
  const ws = [await startWorker(), await startWorker()];
  const [p1, p2] = [start(queueArgs('twin-a')), start(queueArgs('twin-b'))];
  for (const p of [p1, p2]) assert.equal((await p.exited).code, 0, p.out());
  await sameResults('local', 'twin-a');
  await sameResults('local', 'twin-b');
  for (const w of ws) w.child.kill('SIGINT');
  for (const w of ws) await w.exited;
});

test('a worker that cannot see the run directory refuses the job with a clear error; bad --redis and flag mixes are refused up front', { timeout: 300_000 }, async () => {
  const w = await startWorker(workerEnv, 'elsewhere');
  const executor = await QueueExecutor.open({ redis: redis.url, queue: 'elsewhere', shardTiles: 50, log: () => {} });
  try {
    const stageDir = join(root, 'not-mounted', 'finetune-ds1');
    const job = { kind: 'train' as const, id: 'invisible-1', label: 'fold0', stageDir, stageHash: 'abc', options: { ...DEFAULT_TRAIN, data, project: stageDir, name: 'fold0' } };
    await assert.rejects(executor.run([job], '[x]', () => {}), /\[x\] fold0 failed on a worker: fold0: this machine cannot see the job's run directory \(.*not-mounted\/finetune-ds1\/stage\.json is not there\); a worker must mount the run directories at the same paths/);
  } finally {
    await executor.close();
  }
  w.child.kill('SIGINT');
  await w.exited;

  const closed = `redis://127.0.0.1:${await freePort()}`;
  const unreachable = await vascseg(...pipelineArgs('x', '--executor', 'queue', '--redis', closed));
  assert.match(unreachable.stderr, new RegExp(`error: --redis ${closed}: cannot reach Redis .*apt-get install redis-server`));
  assert.match((await vascseg('worker', '--redis', 'localhost:6379')).stderr, /--redis localhost:6379: expected a redis:\/\/ or rediss:\/\/ URL/);
  assert.match((await vascseg(...pipelineArgs('x', '--executor', 'queue'))).stderr, /--executor queue needs --redis/);
  assert.match((await vascseg(...pipelineArgs('x', '--redis', redis.url))).stderr, /--redis is for --executor queue/);
  assert.match((await vascseg(...pipelineArgs('x', '--executor', 'queue', '--redis', redis.url, '--workers', '2'))).stderr, /--workers is for --executor local/);
});
