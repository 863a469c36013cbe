import { Command, Option } from 'commander';
import { join } from 'node:path';
import { checkDataset, formatSummary } from '../data/check.ts';
import { loadDataset } from '../data/dataset.ts';
import { formatIssue } from '../data/errors.ts';
import { formatFolds, makeFolds, type FoldStrategy } from '../data/folds.ts';
import { buildReferenceDataset } from '../reference/build.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { progress } from './progress.ts';
import { parseInteger, SKIP_BAD_HELP, warnSkipped, integerAtLeast } from './options.ts';

export function dataCommand(): Command {
  const data = new Command('data').description('inspect and prepare datasets in the Kaggle HuBMAP layout');

  data.command('check')
    .description('validate a dataset directory and print its summary; lists every problem found (exit 1 if any)')
    .argument('<dir>', 'dataset directory (tile_meta.csv, wsi_meta.csv, polygons.jsonl, train/, test/)')
    .option('--json', 'print the summary and problems as one JSON object', false)
    .option('--max-problems <n>', 'how many problems to print (all are counted)', integerAtLeast(0), 50)
    .action(async (dir: string, opts: { json: boolean; maxProblems: number }) => {
      const { summary, issues } = await checkDataset(dir);
      if (opts.json) {
        console.log(JSON.stringify({ summary, problems: issues }, null, 2));
      } else {
        console.log(formatSummary(summary));
        if (issues.length > 0) {
          console.log(`\n${issues.length} problem${issues.length > 1 ? 's' : ''}:`);
          for (const issue of issues.slice(0, opts.maxProblems)) console.log(`  ${formatIssue(issue)}`);
          if (issues.length > opts.maxProblems) console.log(`  ... and ${issues.length - opts.maxProblems} more (--max-problems)`);
        } else {
          console.log('\nno problems found');
        }
      }
      if (issues.length > 0) process.exitCode = 1;
    });

  data.command('folds')
    .description('split the labelled tiles into k folds grouped by WSI (or by bands of grid rows) and write folds.csv')
    .argument('<dir>', 'dataset directory')
    .option('-k, --folds <k>', 'number of folds', integerAtLeast(2), 5)
    .option('--seed <n>', 'random seed (same seed, same split)', parseInteger, 0)
    .addOption(new Option('--strategy <s>', 'group tiles by whole WSI, by contiguous bands of grid rows i, or auto (wsi when there are >= k WSIs)').choices(['auto', 'wsi', 'band']).default('auto'))
    .option('--dataset <n>', 'split the labelled tiles of this dataset number; 1 (the expert tiles) is what train --fold and pipeline hold out, and they read folds.csv when it exists', integerAtLeast(1), 1)
    .option('--out <file>', 'where to write (default <dir>/folds.csv)')
    .option('--skip-bad', SKIP_BAD_HELP, false)
    .action(async (dir: string, opts: { folds: number; seed: number; strategy: FoldStrategy; dataset: number; out?: string; skipBad: boolean }) => {
      const ds = await loadDataset(dir, { strict: !opts.skipBad });
      warnSkipped(ds.issues);
      const tiles = ds.tiles.filter((t) => ds.labels.has(t.id) && t.dataset === opts.dataset);
      if (tiles.length === 0) throw new Error(`${dir}: no labelled tiles of dataset ${opts.dataset} to split`);
      const folds = makeFolds(tiles, { k: opts.folds, seed: opts.seed, strategy: opts.strategy });
      const out = opts.out ?? join(dir, 'folds.csv');
      const counts = new Array<number>(opts.folds).fill(0);
      for (const f of folds.values()) counts[f]!++;
      const empty = counts.filter((c) => c === 0).length;
      if (empty > 0) throw new Error(`${dir}: ${opts.folds} folds of ${folds.size} tiles leave ${empty} fold${empty > 1 ? 's' : ''} empty (per fold ${counts.join(' / ')}); use fewer folds (-k); nothing was written`);
      await writeFileAtomic(out, formatFolds(folds));
      console.log(`wrote ${out}: ${folds.size} tiles, per fold ${counts.join(' / ')}`);
    });

  data.command('reference')
    .description('write the embedded real competition material as a dataset: real tile_meta.csv (7,033 tiles), the 85 real expert-labelled tiles, painted stand-in images')
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .action(async (opts: { out: string }) => {
      const bar = progress('painting tiles');
      await buildReferenceDataset(opts.out, (d, t) => bar.update(d, t));
      bar.stop();
      console.log(`wrote ${opts.out}`);
    });

  return data;
}

