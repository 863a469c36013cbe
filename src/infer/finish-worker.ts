/** A worker thread that finishes tiles (decode, masks, ensemble, post-processing) for `FinishPool`. */
import { parentPort } from 'node:worker_threads';
import { finishTile, newTimings, type PredictOptions, type TileOutputs } from './predict.ts';

parentPort!.on('message', (m: { job: number; tile: TileOutputs; opts: PredictOptions }) => {
  try {
    const timings = newTimings();
    const predictions = finishTile(m.tile, m.opts, timings);
    parentPort!.postMessage({ job: m.job, predictions, timings });
  } catch (e) {
    parentPort!.postMessage({ job: m.job, error: (e as Error).message });
  }
});
