/**
 * A generator worker: renders a list of tiles of one WSI and writes, for each, its TIFF and a
 * small JSON of its labels into the work directory (both atomically), so an interrupted run
 * resumes where it stopped.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { renderChunk, type ChunkJob } from './chunk.ts';

const job = workerData as ChunkJob;
await renderChunk(job, (resumed) => parentPort!.postMessage({ done: 1, resumed }));
parentPort!.postMessage({ finished: true });
