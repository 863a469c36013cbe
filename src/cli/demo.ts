import { Command } from 'commander';
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { checkDataset, formatSummary } from '../data/check.ts';
import { formatIssue } from '../data/errors.ts';
import { loadGroundTruth } from '../eval/groundtruth.ts';
import { evaluateOid } from '../eval/metric.ts';
import { simulatePredictions } from '../eval/simulate.ts';
import { formatSubmission } from '../eval/submission.ts';
import { presetConfig } from '../synth/config.ts';
import { generateDataset } from '../synth/generate.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { progress } from './progress.ts';
import { parseInteger } from './options.ts';
import { setupBackend } from '../engine/backend.ts';
import { DEFAULT_TRAIN, train } from '../train/trainer.ts';

/** What `npm start` runs: every stage that exists so far, on the embedded default data. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('run the stages that exist so far on the synthetic demo dataset (what `npm start` does)')
    .option('--dir <dir>', 'where the demo dataset lives (generated once, then reused)', join('runs', 'demo', 'synth-demo'))
    .option('--epochs <n>', 'training epochs of the tiny model (0: skip training)', parseInteger, 12)
    .action(async (opts: { dir: string; epochs: number }) => {
      const exists = await access(join(opts.dir, 'tile_meta.csv')).then(() => true, () => false);
      if (!exists) {
        console.log(`== synth: generating the demo dataset in ${opts.dir} (vascseg synth --preset demo) ==`);
        const bar = progress('rendering tiles');
        const s = await generateDataset(presetConfig('demo', 0), opts.dir, { onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        console.log(`${s.tiles} tiles in ${s.seconds.toFixed(1)} s`);
      }
      console.log('\n== data check ==');
      const { summary, issues } = await checkDataset(opts.dir);
      console.log(formatSummary(summary));
      for (const issue of issues) console.log(`problem: ${formatIssue(issue)}`);
      if (issues.length > 0) {
        process.exitCode = 1;
        return;
      }

      console.log('\n== eval: the competition metric on simulated predictions (no model yet) ==');
      const gt = await loadGroundTruth(opts.dir);
      const expert = new Map([...gt].filter(([, t]) => t.dataset === 1));
      const tiles = simulatePredictions(expert.values(), { seed: 1, perTile: 20 });
      const submission = join(opts.dir, '..', 'simulated-submission.csv');
      await writeFileAtomic(submission, formatSubmission(tiles));
      const r = evaluateOid(expert, new Map(tiles.map((t) => [t.id, t.detections])));
      console.log(`wrote ${submission} (Kaggle format, dataset-1 tiles); score it yourself with:`);
      console.log(`  npx vascseg eval --data ${opts.dir} --pred ${submission} --dataset 1`);
      console.log(`AP@0.6 on the expert labels: ${r.ap.toFixed(6)}  (TP ${r.tp}, FP ${r.fp}, FN ${r.fn}, vessels ${r.numGt})`);
      if (opts.epochs <= 0) return;

      console.log(`\n== train: tiny YOLOv7-seg on the expert tiles, fold 0 of 5 held out, ${opts.epochs} epochs at 256 px ==`);
      const command = `npx vascseg train --data ${opts.dir} --fold 0 --imgsz 256 --epochs ${opts.epochs} --batch 4 --optimizer adamw --lr0 0.003 --name demo`;
      console.log(`(the same as: ${command})`);
      await setupBackend('auto');
      const result = await train({
        ...DEFAULT_TRAIN, data: opts.dir, name: 'demo', project: join('runs', 'demo', 'train'), fold: 0, imgsz: 256,
        epochs: opts.epochs, batch: 4, optimizer: 'adamw', lr0: 0.003,
      }, undefined, (line) => console.log(line));
      console.log(`best held-out AP@0.6 ${result.best.ap60.toFixed(4)} at epoch ${result.best.epoch + 1}; run directory ${result.runDir}`);
      console.log('A dozen epochs on a CPU only start the model off: the same run for 30 epochs (--epochs 30, ~11 min) reached');
      console.log('held-out AP@0.6 0.10 here, and the seed trains 100 epochs per stage. Continue this one with:');
      console.log(`  npx vascseg train --data ${opts.dir} --resume --name ${basename(result.runDir)} --project ${join('runs', 'demo', 'train')} --epochs 30`);
    });
}
