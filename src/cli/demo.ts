import { Command } from 'commander';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { checkDataset, formatSummary } from '../data/check.ts';
import { formatIssue } from '../data/errors.ts';
import { buildReferenceDataset } from '../reference/build.ts';
import { progress } from './progress.ts';

/** What `npm start` runs: every stage that exists so far, on the embedded default data. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('run the stages that exist so far on the embedded data (what `npm start` does)')
    .option('--dir <dir>', 'where to build the demo dataset (reused when present)', join('runs', 'demo', 'reference'))
    .action(async (opts: { dir: string }) => {
      const exists = await access(join(opts.dir, 'tile_meta.csv')).then(() => true, () => false);
      if (!exists) {
        console.log(`building the reference dataset in ${opts.dir}`);
        const bar = progress('painting tiles');
        await buildReferenceDataset(opts.dir, (d, t) => bar.update(d, t));
        bar.stop();
      }
      const { summary, issues } = await checkDataset(opts.dir);
      console.log(formatSummary(summary));
      for (const issue of issues) console.log(`problem: ${formatIssue(issue)}`);
      if (issues.length > 0) process.exitCode = 1;
    });
}
