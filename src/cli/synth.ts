import { Command, Option } from 'commander';
import type { z } from 'zod';
import { checkDataset, formatSummary } from '../data/check.ts';
import { formatIssue } from '../data/errors.ts';
import { appearanceSchema, noiseSchema, PRESETS, synthSchema, type PresetName } from '../synth/config.ts';
import { generateDataset } from '../synth/generate.ts';
import { renderSlide } from '../synth/slide.ts';
import { prepareOutput } from '../util/fs.ts';
import { parseBoolean, parseInteger, parseNumber, integerAtLeast } from './options.ts';
import { progress } from './progress.ts';

/** `--miss-rate` style flag name for a config key. */
const flagOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `schema.parse(value)`, its errors named by flag (`--stretch 0.5: Number must be greater than or equal to 1`) instead of zod's JSON. */
function parseFlags<S extends z.ZodTypeAny>(schema: S, value: Record<string, unknown>): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data as z.infer<S>;
  const given = (path: (string | number)[]) => path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
  throw new Error(r.error.issues.map((i) => `--${flagOf(String(i.path[i.path.length - 1]))} ${String(given(i.path))}: ${i.message}`).join('\n'));
}

export function synthCommand(): Command {
  const cmd = new Command('synth')
    .description('generate a HuBMAP-like synthetic dataset in the Kaggle layout: expert labels (dataset 1), noisy non-expert labels (dataset 2), unlabelled tiles (dataset 3), hidden truth in truth/polygons.jsonl')
    .requiredOption('--out <path>', 'output directory (written as <dir>.partial, renamed when complete; a rerun resumes); with --slide, the TIFF file to write')
    .option('--slide', 'render one whole synthetic WSI instead: a tiled pyramidal TIFF with its resolution set, and its true objects as QuPath GeoJSON beside it (FILE.truth.geojson)', false)
    .option('--size <px>', 'with --slide: side of the square slide in pixels', integerAtLeast(64), 8192)
    .option('--wsi <n>', 'with --slide: which WSI world (stain and objects) to render', integerAtLeast(1), 1)
    .option('--mpp <x>', 'with --slide: microns per pixel written into the TIFF', parseNumber, 0.5)
    .addOption(new Option('--preset <name>', `amount of data: tiny (12 tiles), demo (174), full (the real 422 / 1,211 / 5,400 over 13 WSIs)`).choices(Object.keys(PRESETS)).default('tiny'))
    .option('--seed <n>', 'random seed: the same seed gives byte-identical output', parseInteger, 0)
    .option('--workers <n>', 'worker threads (0: render in the main thread); default one per core', integerAtLeast(0));
  // Every knob of the noise and appearance models is a flag, documented from the schema.
  for (const [group, schema] of [['noise', noiseSchema], ['appearance', appearanceSchema]] as const) {
    for (const [key, field] of Object.entries(schema.shape)) {
      const def = (field._def as { defaultValue: () => number | boolean }).defaultValue();
      cmd.option(`--${flagOf(key)} <x>`, `${group}: ${field.description ?? key}`, typeof def === 'boolean' ? parseBoolean : parseNumber, def);
    }
  }
  cmd.action(async (opts: Record<string, unknown> & { out: string; preset: PresetName; seed: number; workers?: number; slide: boolean; size: number; wsi: number; mpp: number }) => {
    const pick = (schema: typeof noiseSchema | typeof appearanceSchema) => Object.fromEntries(Object.keys(schema.shape).map((k) => [k, opts[k]]));
    if (opts.slide) {
      if (!/\.tiff?$/i.test(opts.out)) throw new Error(`--out ${opts.out}: with --slide, the TIFF file to write (FILE.tif)`);
      if (!(opts.mpp > 0)) throw new Error(`--mpp must be > 0, got ${opts.mpp}`);
      const appearance = parseFlags(appearanceSchema, pick(appearanceSchema));
      await prepareOutput(opts.out, 'file');
      const truthOut = opts.out.replace(/\.tiff?$/i, '.truth.geojson');
      const bar = progress('rendering cells');
      const started = performance.now();
      const { truth } = await renderSlide({ seed: opts.seed, size: opts.size, wsi: opts.wsi, appearance, mpp: opts.mpp }, opts.out, truthOut, (d, t) => bar.update(d, t));
      bar.stop();
      const vessels = truth.filter((t) => t.type === 'blood_vessel').length;
      console.log(`wrote ${opts.out} (${opts.size} x ${opts.size} px at ${opts.mpp} um/px, tiled pyramidal TIFF) and ${truthOut} (${vessels} vessels, ${truth.length - vessels} other objects) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return;
    }
    const config = parseFlags(synthSchema, { seed: opts.seed, wsis: PRESETS[opts.preset], noise: pick(noiseSchema), appearance: pick(appearanceSchema) });
    const bar = progress('rendering tiles');
    const summary = await generateDataset(config, opts.out, { workers: opts.workers, onProgress: (d, t) => bar.update(d, t) });
    bar.stop();
    const n = summary.noise;
    const resumed = summary.resumed > 0 ? `, ${summary.resumed} kept from an interrupted run` : '';
    console.log(`wrote ${summary.tiles} tiles to ${opts.out} in ${summary.seconds.toFixed(1)} s (${((summary.tiles - summary.resumed) / summary.seconds).toFixed(1)} tiles/s${resumed})`);
    console.log(`dataset 2 noise applied: ${n.missed}/${n.vessels} vessels missed, ${n.shrunk} drawn smaller, ${n.shifted} shifted, ${n.falseVessels} tubule lumens labelled as vessels, ${n.duplicates} duplicates\n`);
    const { summary: s, issues } = await checkDataset(opts.out);
    console.log(formatSummary(s));
    for (const issue of issues) console.log(`problem: ${formatIssue(issue)}`);
    if (issues.length > 0) process.exitCode = 1;
  });
  return cmd;
}
