/** A worker of bench:parallel-steps: one onnx training engine on the step fixture, stepping when asked. */
import { parentPort, workerData } from 'node:worker_threads';
import { stepFixture } from './step-targets.ts';
import { OnnxTrainEngine } from '../src/train/onnx-engine.ts';

const { size, px, threads } = workerData as { size: string; px: number; threads: number };
const { graph, weights, x, loss } = await stepFixture(size, px, 4);
const engine = new OnnxTrainEngine(graph, px, threads);
await engine.step(weights, x, loss);
parentPort!.postMessage('ready');
parentPort!.on('message', async (steps: number) => {
  for (let k = 0; k < steps; k++) await engine.step(weights, x, loss);
  parentPort!.postMessage('done');
});
