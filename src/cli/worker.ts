import { Command } from 'commander';
import { threadsEach } from '../jobs/executor.ts';
import { DEFAULT_QUEUE } from '../jobs/queue.ts';
import { runWorker } from '../jobs/worker.ts';
import { integerAtLeast } from './options.ts';

interface WorkerCli {
  redis?: string;
  concurrency: number;
  threads?: number;
  queue: string;
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('take pipeline jobs (fold trainings, prediction shards) from a Redis queue and run them, until stopped; the run directories must be mounted here at the same paths as on the machine that runs `vascseg pipeline --executor queue`. Ctrl-C finishes the current jobs; twice hands them back')
    .requiredOption('--redis <url>', 'the Redis server, redis://host:6379')
    .option('--queue <name>', 'the queue to take jobs from', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'jobs at once, each in its own process', integerAtLeast(1), 1)
    .option('--threads <n>', 'onnxruntime threads per job (default: the cores shared out between the --concurrency jobs)', integerAtLeast(1))
    .action(async (opts: WorkerCli) => {
      const threads = opts.threads ?? threadsEach(opts.concurrency);
      await runWorker({ redis: opts.redis!, queue: opts.queue, concurrency: opts.concurrency, threads, log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`) });
    });
}
