import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { setupBackend, DEVICES, type Device } from '../engine/backend.ts';
import { ENSEMBLES } from '../infer/ensemble.ts';
import { DEFAULT_PREDICT } from '../infer/predict.ts';
import { openRuntime, RUNTIMES, type Runtime, type RuntimeName } from '../infer/runtime.ts';
import { openSlide } from '../slide/reader.ts';
import { checkClasses, claimSlideRun, runSlide, SLIDE_OUTPUTS, slideResolution, type SlideSettings } from '../slide/run.ts';
import { jobId, type SlideJob } from '../jobs/jobs.ts';
import { DEFAULT_QUEUE, DEFAULT_SHARD_TILES, QueueExecutor } from '../jobs/queue.ts';
import { prepareOutput } from '../util/fs.ts';
import { checkExecutorFlags, integerAtLeast, numberIn, parseImgsz } from './options.ts';
import { progress } from './progress.ts';

interface SlideCli {
  weights: string[];
  image: string[];
  out?: string;
  mpp: number;
  slideMpp?: number;
  tile: number;
  overlap: number;
  tissue: 'auto' | 'none';
  imgsz?: number;
  conf: number;
  iou: number;
  tta: 'none' | 'flip';
  ensemble: (typeof ENSEMBLES)[number];
  post: 'lcc' | 'none';
  maxDet: number;
  runtime: RuntimeName;
  threads?: number;
  workers: number;
  batch: number;
  device: Device;
  executor: 'local' | 'queue';
  redis?: string;
  queue: string;
}

/** A map for eyes and for QuPath, not a ranked list for AP: the overlay threshold of predict. */
const SLIDE_CONF = 0.25;

export function slideCommand(): Command {
  return new Command('slide')
    .description('every vessel of a whole slide (any image libvips reads: pyramidal TIFF, OME-TIFF, PNG, JPEG): windows read at the model\'s resolution, tissue only, predicted as tiles, joined across seams; writes QuPath GeoJSON, COCO JSON, a CSV of measurements, an overview PNG and summary.json; resumable')
    .requiredOption('--weights <dirs...>', 'checkpoint directories (or .onnx / official weights); several make an ensemble')
    .requiredOption('--image <files...>', 'the slide, or several (each into its own directory under --out)')
    .option('--out <dir>', 'output directory (default: runs/slide/<slide name>; with several slides, the parent of one directory per slide, default runs/slide); a rerun with the same settings continues an interrupted run')
    .option('--mpp <x>', 'microns per pixel of the training data: the slide is read at this resolution', numberIn(0, Infinity, { openMin: true }), 0.5)
    .option('--slide-mpp <x>', 'the slide\'s microns per pixel, when its file records none (or records it wrong)', numberIn(0, Infinity, { openMin: true }))
    .option('--tile <px>', 'window side at the model\'s resolution', integerAtLeast(64), 512)
    .option('--overlap <px>', 'overlap of neighbouring windows (vessels up to about this size are seen whole by one window)', integerAtLeast(0), 128)
    .addOption(new Option('--tissue <t>', 'auto: predict only windows with tissue (saturation, Otsu, small holes filled); none: every window').choices(['auto', 'none']).default('auto'))
    .option('--imgsz <px>', 'inference size of a 512 px window (default: the size the first model was trained at)', parseImgsz)
    .option('--conf <x>', 'minimum score: 0.25 keeps what a reader would call a vessel (QuPath gets no noise); 0.001, as predict, for scoring AP', numberIn(0, 1), SLIDE_CONF)
    .option('--iou <x>', 'NMS IoU threshold', numberIn(0, 1), DEFAULT_PREDICT.iou)
    .addOption(new Option('--tta <t>', 'test-time augmentation').choices(['none', 'flip']).default(DEFAULT_PREDICT.tta))
    .addOption(new Option('--ensemble <e>', 'how several models combine').choices([...ENSEMBLES]).default(DEFAULT_PREDICT.ensemble))
    .addOption(new Option('--post <p>', 'keep the largest connected component of each mask, or nothing').choices(['lcc', 'none']).default(DEFAULT_PREDICT.post))
    .option('--max-det <n>', 'most instances per window', integerAtLeast(1), DEFAULT_PREDICT.maxDet)
    .option('--batch <n>', 'windows per forward pass (a GPU runs several at once; the instances are those of --batch 1)', integerAtLeast(1), 1)
    .addOption(new Option('--runtime <r>', 'what runs the network').choices([...RUNTIMES]).default('onnx'))
    .option('--threads <n>', 'onnxruntime threads (default: the cores the --workers leave)', integerAtLeast(0))
    .option('--workers <n>', 'worker threads that finish windows (masks, post-processing) while the network runs on the next', integerAtLeast(0), 1)
    .addOption(new Option('--device <d>', 'tfjs backend (with --runtime tfjs)').choices([...DEVICES]).default('auto'))
    .addOption(new Option('--executor <e>', 'where slides run: local (here, one after another) or queue (one job per slide on a Redis job queue that `vascseg worker`s take; slides, weights and --out on a filesystem every machine mounts at the same path)').choices(['local', 'queue']).default('local'))
    .option('--redis <url>', 'with --executor queue: the Redis server, redis://host:6379')
    .option('--queue <name>', 'with --executor queue: the queue name the workers listen on', DEFAULT_QUEUE)
    .action(async (opts: SlideCli) => {
      if (opts.overlap >= opts.tile) throw new Error(`--overlap ${opts.overlap} must be smaller than --tile ${opts.tile}`);
      checkExecutorFlags(opts);
      if (opts.executor === 'queue' && opts.runtime !== 'onnx') throw new Error('--executor queue runs the network with onnxruntime on the workers; drop --runtime tfjs');
      const name = (image: string) => basename(image).replace(/\.[^.]+$/, '');
      const names = opts.image.map(name);
      const twice = names.find((n, k) => names.indexOf(n) !== k);
      if (twice) throw new Error(`--image: two slides are named ${twice}; each writes into <--out>/<its name>, so give them different names`);
      const outs = opts.image.length === 1 ? [opts.out ?? join('runs', 'slide', names[0]!)] : names.map((n) => join(opts.out ?? join('runs', 'slide'), n));
      // Every slide and its resolution are checked before any model is loaded.
      for (const image of opts.image) slideResolution(await openSlide(image), opts.slideMpp);
      for (const out of outs) await prepareOutput(out, 'dir');
      if (opts.runtime === 'tfjs' || opts.weights.some((w) => !w.endsWith('.onnx'))) await setupBackend(opts.device);
      const threads = opts.threads ?? (opts.workers > 0 ? Math.max(1, availableParallelism() - opts.workers) : 0);
      const models: Runtime[] = [];
      try {
        for (const w of opts.weights) models.push(await openRuntime(w, opts.runtime, { threads }));
        const predict = { ...DEFAULT_PREDICT, imgsz: opts.imgsz ?? models[0]!.imgsz, conf: opts.conf, iou: opts.iou, tta: opts.tta, ensemble: opts.ensemble, post: opts.post, maxDet: opts.maxDet, context: 0, dilate: 0 };
        const settings: SlideSettings = { mpp: opts.mpp, slideMpp: opts.slideMpp, tile: opts.tile, overlap: opts.overlap, tissue: opts.tissue, predict };
        if (opts.executor === 'queue') {
          // The models were opened here only to check them and to learn their input size.
          checkClasses(opts.weights, models);
          return await slidesOnQueue(opts, outs, settings);
        }
        for (const [k, image] of opts.image.entries()) {
          const bar = progress(opts.image.length > 1 ? `${names[k]} windows` : 'windows');
          try {
            const r = await runSlide(opts.weights, models, image, outs[k]!, settings, opts.workers, opts.batch, (p) => bar.update(p.done, p.total), (line) => { console.log(line); });
            bar.stop();
            console.log(slideLine(r.summary, r.outputs));
          } finally {
            bar.stop();
          }
        }
      } finally {
        for (const m of models) await m.dispose();
      }
    });
}

function slideLine(summary: Record<string, unknown>, outputs: readonly string[]): string {
  const s = summary as { vessels: { count: number; per_mm2_tissue: number | null }; seconds: number; peak_rss_mb: number; tissue: { area_mm2: number } };
  return `${s.vessels.count} vessels (${s.vessels.per_mm2_tissue?.toFixed(1) ?? 'n/a'} per mm^2 of ${s.tissue.area_mm2.toFixed(2)} mm^2 tissue) in ${s.seconds.toFixed(1)} s, peak RSS ${s.peak_rss_mb.toFixed(0)} MB: wrote ${outputs.join(', ')}`;
}

/** One job per slide on the queue; the workers write each slide's outputs into its --out directory. */
async function slidesOnQueue(opts: SlideCli, outs: readonly string[], settings: SlideSettings): Promise<void> {
  const jobs: SlideJob[] = [];
  for (const [k, image] of opts.image.entries()) {
    const dir = resolve(outs[k]!);
    const hash = await claimSlideRun(dir, opts.weights, image, settings);
    jobs.push({ kind: 'slide', id: jobId({ slide: dir, hash }), label: basename(image), stageDir: dir, stageHash: hash,
      weights: opts.weights, weightFiles: opts.weights.map((w) => resolve(w)), image: resolve(image), settings, batch: opts.batch, finishers: opts.workers });
  }
  const log = (line: string) => console.log(line);
  const executor = await QueueExecutor.open({ redis: opts.redis!, queue: opts.queue, shardTiles: DEFAULT_SHARD_TILES, log });
  try {
    await executor.run(jobs, '[slide]', log);
  } finally {
    await executor.close();
  }
  for (const job of jobs) {
    const summary = JSON.parse(await readFile(join(job.stageDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
    console.log(`${job.label}: ${slideLine(summary, SLIDE_OUTPUTS.map((f) => join(job.stageDir, f)))}`);
  }
}
