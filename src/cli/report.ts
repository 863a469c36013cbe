import { Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setupBackend } from '../engine/backend.ts';
import { dataReport } from '../report/data-report.ts';
import { runReport } from '../report/run-report.ts';
import { integerAtLeast } from './options.ts';

interface ReportCli {
  data?: string;
  out?: string;
  maxTiles: number;
  weights?: string;
}

export function reportCommand(): Command {
  return new Command('report')
    .description('write report.html (self-contained, opens from disk) and PNG figures: for a train run (loss and AP curves, PR curve, AP by dataset and WSI, worst tiles with truth and predictions), a pipeline run (stage table, AP by stage, pseudo labels, out-of-fold predictions) or, with --data, a dataset (counts, vessel sizes, a tile per WSI, the domain map)')
    .argument('[run]', 'a run directory: runs/train/<name> or runs/pipeline/<name>')
    .option('--data <dir>', 'report on a dataset instead of a run')
    .option('--out <dir>', 'where a dataset report goes (default: runs/report/<dataset name>)')
    .option('--weights <checkpoint>', 'with --data: map tiles by this model\'s features instead of their colour and texture')
    .option('--max-tiles <n>', 'tiles in the domain map (a seeded sample beyond it)', integerAtLeast(1), 2000)
    .action(async (run: string | undefined, opts: ReportCli) => {
      if (!run && !opts.data) throw new Error('give a run directory, or --data DIR');
      await setupBackend('auto', { quiet: true });
      const log = (line: string) => console.log(line);
      let result: { file: string; figures: string[] };
      if (opts.data) {
        const out = opts.out ?? join('runs', 'report', opts.data.replace(/\/+$/, '').split('/').pop()!);
        await mkdir(out, { recursive: true });
        result = await dataReport(opts.data, out, { maxTiles: opts.maxTiles, log, weights: opts.weights });
      } else {
        result = await runReport(run!, log);
      }
      console.log(`wrote ${result.file} and ${result.figures.length} PNG figures`);
    });
}
