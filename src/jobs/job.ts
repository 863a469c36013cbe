/**
 * A pipeline job in a child process: receives its JobRequest over IPC, runs it, and reports
 * log lines and the end back. It exits when the parent goes away (even after `kill -9`), so a
 * rerun never races an orphan writing into the same run directory.
 */
import { setupBackend } from '../engine/backend.ts';
import { executeJob, type JobMessage, type JobRequest } from './jobs.ts';

const send = (m: JobMessage) => process.send?.(m);
let finished = false;
process.on('disconnect', () => { if (!finished) process.exit(1); });
// Ctrl-C in a terminal reaches the whole process group; the parent decides what it means
// (a worker finishes its job first), and this process ends when the parent does.
process.on('SIGINT', () => {});

process.once('message', async (request: JobRequest) => {
  try {
    await setupBackend('auto', { quiet: true });
    await executeJob(request.job, request.threads, (line) => send({ type: 'log', line }));
    send({ type: 'done' });
    finished = true;
    process.disconnect();
  } catch (e) {
    send({ type: 'error', message: (e as Error).message });
    finished = true;
    process.exitCode = 1;
    process.disconnect();
  }
});
