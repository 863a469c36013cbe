import { Command, Option } from 'commander';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { presetConfig } from '../synth/config.ts';
import { GENERATOR_VERSION, generateDataset, generatorVersionOf } from '../synth/generate.ts';
import { loadPipelineConfig, PIPELINE_PRESETS, type PresetName } from '../pipeline/config.ts';
import { runPipeline } from '../pipeline/run.ts';
import { LocalExecutor, type Executor } from '../jobs/executor.ts';
import { DEFAULT_QUEUE, DEFAULT_SHARD_TILES, QueueExecutor } from '../jobs/queue.ts';
import { checkExecutorFlags, integerAtLeast } from './options.ts';
import { pathExists } from '../util/fs.ts';
import { progress } from './progress.ts';

interface PipelineCli {
  data?: string;
  config?: string;
  preset?: PresetName;
  name: string;
  project: string;
  workers?: number;
  executor: 'local' | 'queue';
  redis?: string;
  queue: string;
  shardTiles: number;
}

export const DEMO_DATA = join('runs', 'demo', 'synth-demo');

/** The synthetic demo dataset, generated once and reused (the cache is the directory itself). */
export async function ensureDemoData(dir = DEMO_DATA): Promise<string> {
  const version = await generatorVersionOf(dir);
  // A dataset put there by hand (no synth.json) is used as it is.
  if ((version === null || version === GENERATOR_VERSION) && (await pathExists(join(dir, 'tile_meta.csv')))) return dir;
  if (version !== null && version !== GENERATOR_VERSION) console.log(`${dir} was rendered by synthetic generator version ${version}; this is version ${GENERATOR_VERSION}: rendering it again`);
  console.log(`generating the synthetic demo dataset in ${dir} (vascseg synth --preset demo; once)`);
  const bar = progress('rendering tiles');
  const s = await generateDataset(presetConfig('demo', 0), dir, { onProgress: (d, t) => bar.update(d, t) });
  bar.stop();
  console.log(`${s.tiles} tiles in ${s.seconds.toFixed(1)} s`);
  return dir;
}

export function pipelineCommand(): Command {
  return new Command('pipeline')
    .description('the seed\'s whole method as one resumable command: pretrain on dataset 2, fine-tune on dataset 1 in k folds, pseudo-label datasets 2+3, pretrain on them, fine-tune again, predict with the fold ensemble, and score every stage')
    .option('--data <dir>', 'dataset in the Kaggle layout (default: the synthetic demo dataset, generated once, with the demo preset)')
    .option('--config <file>', 'pipeline config, JSON or YAML; its keys override the preset\'s')
    .addOption(new Option('--preset <p>', 'starting settings: seed (the gold-medal numbers: 640 px, 100 epochs, 5 folds) or demo (minutes on 2 cores); default demo without --data, seed with it').choices(Object.keys(PIPELINE_PRESETS)))
    .option('--name <name>', 'run name: runs/pipeline/<name>/', 'exp')
    .option('--project <dir>', 'parent directory of runs', join('runs', 'pipeline'))
    .option('--workers <n>', 'training jobs (folds) in parallel, one process each, sharing the cores (default: one per core, at most the folds); with --executor local', integerAtLeast(1))
    .addOption(new Option('--executor <e>', 'where jobs run: local (child processes here) or queue (a Redis job queue that `vascseg worker`s on any machine take jobs from)').choices(['local', 'queue']).default('local'))
    .option('--redis <url>', 'with --executor queue: the Redis server, redis://host:6379')
    .option('--queue <name>', 'with --executor queue: the queue name the workers listen on', DEFAULT_QUEUE)
    .option('--shard-tiles <n>', 'with --executor queue: tiles per prediction job (pseudo-labelling, predict and evaluate are cut into shards of this many)', integerAtLeast(1), DEFAULT_SHARD_TILES)
    .action(async (opts: PipelineCli) => {
      checkExecutorFlags(opts, opts.workers);
      // The config is checked before anything is generated or trained.
      const preset = opts.preset ?? (opts.data ? 'seed' : 'demo');
      const config = await loadPipelineConfig(opts.config, preset);
      if (config.init && !(await pathExists(config.init))) throw new Error(`${opts.config ?? 'config'}: init: ${config.init} not found; expected official weights (.pt, .safetensors) or a checkpoint directory`);
      const data = opts.data ?? (await ensureDemoData());
      // Measured on 2 cores: two fold jobs side by side with one onnxruntime thread each took
      // 23 s where the same two in turn with two threads each took 35 s (augmentation and the
      // loss are single-threaded JS). So: one job per core, at most the folds.
      const workers = opts.workers ?? Math.max(1, Math.min(availableParallelism(), config.folds));
      const log = (line: string) => console.log(line);
      const executor: Executor = opts.executor === 'queue'
        ? await QueueExecutor.open({ redis: opts.redis!, queue: opts.queue, shardTiles: opts.shardTiles, log })
        : new LocalExecutor(workers);
      const where = opts.executor === 'queue' ? `queue ${opts.queue} at ${opts.redis}` : `${workers} worker${workers > 1 ? 's' : ''}`;
      console.log(`pipeline ${join(opts.project, opts.name)}: data ${data}, preset ${preset}${opts.config ? ` + ${opts.config}` : ''}, ${where}`);
      console.log(`settings: ${JSON.stringify(config)}`);
      let summary;
      try {
        summary = await runPipeline({ data, config, name: opts.name, project: opts.project, executor, log });
      } finally {
        await executor.close();
      }
      console.log(`\n${summary.markdown}`);
      console.log(`wrote ${join(opts.project, opts.name, 'summary.md')} and summary.json`);
    });
}
