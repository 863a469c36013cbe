/**
 * A training job in a child process: receives its TrainOptions over IPC, trains, and reports
 * log lines and the result back. It exits when the parent goes away (even after `kill -9`),
 * so a rerun never races an orphan writing into the same run directory.
 */
import { setupBackend } from '../engine/backend.ts';
import { train, type TrainOptions } from '../train/trainer.ts';

export type JobMessage =
  | { type: 'log'; line: string }
  | { type: 'done'; runDir: string }
  | { type: 'error'; message: string };

const send = (m: JobMessage) => process.send?.(m);
let finished = false;
process.on('disconnect', () => { if (!finished) process.exit(1); });

process.once('message', async (opts: TrainOptions) => {
  try {
    await setupBackend('auto', { quiet: true });
    const result = await train(opts, undefined, (line) => send({ type: 'log', line }));
    send({ type: 'done', runDir: result.runDir });
    finished = true;
    process.disconnect();
  } catch (e) {
    send({ type: 'error', message: (e as Error).message });
    finished = true;
    process.exitCode = 1;
    process.disconnect();
  }
});
