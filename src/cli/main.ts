import { Command } from 'commander';
import { DatasetError, formatIssue } from '../data/errors.ts';
import { dataCommand } from './data.ts';
import { evalCommand } from './eval.ts';
import { submissionCommand } from './submission.ts';
import { synthCommand } from './synth.ts';
import { trainCommand } from './train.ts';
import { predictCommand } from './predict.ts';
import { slideCommand } from './slide.ts';
import { exportCommand } from './export.ts';
import { importCommand } from './import.ts';
import { pipelineCommand } from './pipeline.ts';
import { reportCommand } from './report.ts';
import { workerCommand } from './worker.ts';

// `vascseg ... | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('vascseg')
  .description('Find every microvessel in kidney histology: YOLO-style instance segmentation, the HuBMAP 2023 method')
  .version('0.1.0')
  .showHelpAfterError()
  .configureHelp({ showGlobalOptions: true })
  .option('--verbose', 'say more (the tfjs backend chosen); VASCSEG_VERBOSE=1 does the same, VASCSEG_DEBUG=1 adds stack traces to errors')
  .hook('preAction', (cmd) => {
    if (cmd.opts().verbose) process.env.VASCSEG_VERBOSE = '1';
  });

program.addCommand(synthCommand());
program.addCommand(dataCommand());
program.addCommand(trainCommand());
program.addCommand(predictCommand());
program.addCommand(slideCommand());
program.addCommand(exportCommand());
program.addCommand(importCommand());
program.addCommand(pipelineCommand());
program.addCommand(workerCommand());
program.addCommand(reportCommand());
program.addCommand(evalCommand());
program.addCommand(submissionCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof DatasetError) {
    for (const issue of err.issues) console.error(`error: ${formatIssue(issue)}`);
  } else {
    console.error(`error: ${(err as Error).message}`);
    if (process.env.VASCSEG_DEBUG) console.error((err as Error).stack);
  }
  process.exitCode = 1;
}
