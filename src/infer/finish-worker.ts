/** A worker thread of `FinishPool`: prepares tiles for the network and finishes their outputs (decode, masks, ensemble, post-processing), or, with networks of its own, predicts whole tiles. */
import { parentPort } from 'node:worker_threads';
import type { PoolJob, PoolReply } from './finish-pool.ts';
import { finishTile, forwardTile, inputLayout, neighbourLookup, newTimings, prepareTile } from './predict.ts';
import { OnnxRuntime } from './onnx-runtime.ts';
import type { Runtime } from './runtime.ts';

/** This worker's sessions of the ensemble's models (one onnxruntime thread each, unless asked: the pool's workers are the parallelism). */
let networks: Runtime[] = [];

/** Jobs run one at a time, in the order they came: a tile's forward pass is async, and two interleaved tiles would only compete for this thread. */
let queue = Promise.resolve();

async function handle(m: PoolJob & { job: number }): Promise<void> {
  const timings = newTimings();
  switch (m.kind) {
    case 'open':
      for (const r of networks) await r.dispose();
      networks = [];
      for (const n of m.networks) networks.push(await OnnxRuntime.create(n.model, n.config, n.imgsz, { threads: m.threads }));
      parentPort!.postMessage({ job: m.job } satisfies PoolReply);
      break;
    case 'prepare': {
      const prepared = prepareTile(m.image, m.opts, neighbourLookup(m.neighbours), timings, m.layout);
      // The inputs are moved, not copied, back to the main thread (a 640 px input is 4.9 MB).
      parentPort!.postMessage({ job: m.job, prepared, timings } satisfies PoolReply, prepared.inputs.map((a) => a.buffer as ArrayBuffer));
      break;
    }
    case 'finish':
      parentPort!.postMessage({ job: m.job, predictions: finishTile(m.tile, m.opts, timings, m.maskStrings), timings } satisfies PoolReply);
      break;
    case 'tile': {
      if (networks.length === 0) throw new Error('this worker has no networks: open them first');
      const prepared = prepareTile(m.image, m.opts, neighbourLookup(m.neighbours), timings, inputLayout(networks));
      const outputs = await forwardTile(networks, prepared, m.opts, timings);
      parentPort!.postMessage({ job: m.job, predictions: finishTile(outputs, m.opts, timings, m.maskStrings), timings } satisfies PoolReply);
      break;
    }
  }
}

parentPort!.on('message', (m: PoolJob & { job: number }) => {
  queue = queue.then(() => handle(m)).catch((e: Error) => {
    parentPort!.postMessage({ job: m.job, error: e.message } satisfies PoolReply);
  });
});
