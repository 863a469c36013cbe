/** A worker thread that assembles training batches (`makeBatch`) for `BatchPool`. */
import { parentPort } from 'node:worker_threads';
import { batchTransferables, makeSeededBatch, type BatchJob, type BatchSetup } from './batch-pool.ts';

let setup: BatchSetup | null = null;

parentPort!.on('message', (m: { setup: BatchSetup } | { job: number; batch: BatchJob }) => {
  if ('setup' in m) {
    setup = m.setup;
    return;
  }
  try {
    const batch = makeSeededBatch(setup!, m.batch);
    parentPort!.postMessage({ job: m.job, batch }, batchTransferables(batch));
  } catch (e) {
    parentPort!.postMessage({ job: m.job, error: (e as Error).stack ?? String(e) });
  }
});
