/** A worker thread of `FinishPool`: prepares tiles for the network and finishes their outputs (decode, masks, ensemble, post-processing). */
import { parentPort } from 'node:worker_threads';
import type { PoolJob, PoolReply } from './finish-pool.ts';
import { finishTile, neighbourLookup, newTimings, prepareTile } from './predict.ts';

parentPort!.on('message', (m: PoolJob & { job: number }) => {
  try {
    const timings = newTimings();
    if (m.kind === 'prepare') {
      const prepared = prepareTile(m.image, m.opts, neighbourLookup(m.neighbours), timings, m.layout);
      // The inputs are moved, not copied, back to the main thread (a 640 px input is 4.9 MB).
      parentPort!.postMessage({ job: m.job, prepared, timings } satisfies PoolReply, prepared.inputs.map((a) => a.buffer as ArrayBuffer));
    } else {
      parentPort!.postMessage({ job: m.job, predictions: finishTile(m.tile, m.opts, timings, m.maskStrings), timings } satisfies PoolReply);
    }
  } catch (e) {
    parentPort!.postMessage({ job: m.job, error: (e as Error).message } satisfies PoolReply);
  }
});
