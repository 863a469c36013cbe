import { Command } from 'commander';
import { readTextFile } from '../util/fs.ts';
import { loadDataset } from '../data/dataset.ts';
import { formatIssue, type DataIssue } from '../data/errors.ts';
import { TILE_SIZE } from '../data/types.ts';
import { parseSubmission } from '../eval/submission.ts';
import { SKIP_BAD_HELP, warnSkipped } from './options.ts';

export function submissionCommand(): Command {
  const submission = new Command('submission').description('Kaggle submission files (id,height,width,prediction_string)');
  submission.command('check')
    .description('validate a submission: every row parses, confidences in [0,1], every mask decodes to the stated size; with --data, ids are known tiles and every test tile has a row (exit 1 on any problem)')
    .argument('<file>', 'submission CSV')
    .option('--data <dir>', 'dataset directory whose tiles the submission must describe')
    .option('--skip-bad', SKIP_BAD_HELP, false)
    .action(async (file: string, opts: { data?: string; skipBad: boolean }) => {
      const text = await readTextFile(file, 'a submission CSV (id,height,width,prediction_string)');
      let expected: Map<string, { height: number; width: number }> | undefined;
      let testIds: string[] = [];
      if (opts.data) {
        const ds = await loadDataset(opts.data, { strict: !opts.skipBad });
        warnSkipped(ds.issues);
        const ids = new Set([...ds.tiles.map((t) => t.id), ...ds.images.train, ...ds.images.test]);
        expected = new Map([...ids].map((id) => [id, { height: TILE_SIZE, width: TILE_SIZE }]));
        testIds = [...ds.images.test];
      }
      const { tiles, issues } = parseSubmission(text, file, expected);
      const present = new Set(tiles.map((t) => t.id));
      const all: DataIssue[] = [...issues, ...testIds.filter((id) => !present.has(id)).map((id) => ({ file, tileId: id, message: 'test tile has no row' }))];
      const detections = tiles.reduce((s, t) => s + t.detections.length, 0);
      console.log(`${file}: ${tiles.length} rows, ${detections} detections`);
      for (const issue of all) console.log(`  ${formatIssue(issue)}`);
      console.log(all.length === 0 ? 'submission is valid' : `${all.length} problem${all.length > 1 ? 's' : ''}`);
      if (all.length > 0) process.exitCode = 1;
    });
  return submission;
}
