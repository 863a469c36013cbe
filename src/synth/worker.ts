/**
 * A generator worker: renders lists of tiles of one WSI and writes, for each, its TIFF and a
 * small JSON of its labels into the work directory (both atomically), so an interrupted run
 * resumes where it stopped.
 */
import { parentPort } from 'node:worker_threads';
import { renderChunk, type ChunkJob } from './chunk.ts';

// A long-lived worker: it takes chunk after chunk, so module loading is paid once per thread.
parentPort!.on('message', (job: ChunkJob) => {
  renderChunk(job, (resumed) => parentPort!.postMessage({ done: 1, resumed })).then(
    () => parentPort!.postMessage({ finished: true }),
    (err: Error) => parentPort!.postMessage({ error: err.stack ?? err.message }),
  );
});
