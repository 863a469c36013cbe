import { Command, InvalidArgumentError, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { setupBackend, DEVICES, type Device } from '../engine/backend.ts';
import { ENGINES, type EngineName } from '../train/engine.ts';
import { MODEL_SIZES, modelConfig } from '../model/yolov7seg.ts';
import { DEFAULT_AUGMENT, MOSAIC_VIEWS, NO_AUGMENT, type AugmentConfig } from '../train/data.ts';
import { MASK_TARGETS, type MaskTarget } from '../train/augment.ts';
import { DEFAULT_TRAIN, train, type TrainProgress } from '../train/trainer.ts';
import { SCRATCH_HIGH_GAINS } from '../train/loss.ts';
import { parseInteger, integerAtLeast, numberIn, parseImgsz } from './options.ts';

const parseList = (v: string) => v.split(',').map((s) => parseInteger(s.trim()));

/** Every augmentation knob becomes a flag (`hsvV` -> `--hsv-v`), its default from DEFAULT_AUGMENT. */
const AUGMENT_HELP: Record<Exclude<keyof AugmentConfig, 'mosaicView'>, string> = {
  stitch: 'probability of a stitched-context crop: the tile and its slide neighbours (by i, j), shifted up to 256 px; unlabelled neighbour area is left out of the loss',
  mosaic: 'probability of a 4-tile mosaic',
  scale: 'random scale: 1 +- x',
  translate: 'random shift, fraction of the tile',
  stain: 'stain jitter (colour deconvolution): sd of each stain amount',
  fliplr: 'probability of a horizontal flip',
  flipud: 'probability of a vertical flip',
  rot90: 'probability of a random quarter turn',
  hsvV: 'brightness jitter (fraction)',
  hsvS: 'saturation jitter (fraction)',
};

/**
 * A resumed run keeps its saved settings (that is what makes it exact). Repeating the original
 * command with --resume is fine; a flag that asks for something else is an error, never
 * silently ignored.
 */
async function checkResumeFlags(cmd: Command, o: Record<string, unknown>): Promise<void> {
  const saved = JSON.parse(await readFile(join(o.project as string, o.name as string, 'args.json'), 'utf8').catch(() => 'null')) as (Record<string, unknown> & { augment: Record<string, number> }) | null;
  if (!saved) return; // the trainer says there is nothing to resume
  const free = new Set(['data', 'name', 'project', 'resume', 'epochs', 'threads', 'workers', 'device']);
  const differing: string[] = [];
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (free.has(key) || cmd.getOptionValueSource(key) !== 'cli') continue;
    const was = key === 'augment' ? JSON.stringify(saved.augment) === JSON.stringify(NO_AUGMENT) ? false : true
      : key in DEFAULT_AUGMENT ? saved.augment[key] : key === 'cosLr' ? saved.cosine
        : key in SCRATCH_HIGH_GAINS ? ((saved.gains ?? SCRATCH_HIGH_GAINS) as Record<string, number>)[key] : saved[key];
    if (JSON.stringify(was) !== JSON.stringify(o[key])) differing.push(`${opt.long} (saved: ${JSON.stringify(was)})`);
  }
  if (differing.length > 0) throw new Error(`--resume continues with the run's saved settings (args.json), and these flags ask for others: ${differing.join(', ')}; drop them (only --epochs, --threads, --workers and --device may change), or start a new run`);
}

function parseModelSize(value: string): string {
  try {
    modelConfig(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

const PROBABILITIES = new Set(['stitch', 'mosaic', 'fliplr', 'flipud', 'rot90']);

export function trainCommand(): Command {
  const d = DEFAULT_TRAIN;
  const cmd = new Command('train')
    .description('train a YOLOv7-seg model on a dataset in the Kaggle layout; writes runs/train/<name>/ (args.json, results.csv, weights/last, weights/best)')
    .requiredOption('--data <dir>', 'dataset directory (or a pseudo-label set in the same layout)')
    .option('--name <name>', 'run name: runs/train/<name> (name2, name3... when taken)', 'exp')
    .option('--project <dir>', 'parent of run directories', d.project)
    .option('--train-datasets <list>', 'dataset numbers whose labelled tiles train, e.g. 1 or 1,2', parseList, d.trainDatasets)
    .option('--fold <k>', 'hold out fold k of the dataset-1 tiles for validation (without it: validate on the training tiles)', integerAtLeast(0))
    .option('--folds <n>', 'number of folds', integerAtLeast(2), d.folds)
    .option('--fold-seed <n>', 'seed of the fold split', parseInteger, d.foldSeed)
    .option('--init <checkpoint>', 'start from these weights (same model size and classes)')
    .option('--imgsz <px>', 'training and validation input size (tiles are resized; multiple of 32)', parseImgsz, d.imgsz)
    .option('--epochs <n>', 'epochs', integerAtLeast(1), d.epochs)
    .option('--batch <n>', 'tiles per batch', integerAtLeast(1), d.batch)
    .option('--model <size>', `model size: ${Object.keys(MODEL_SIZES).join(', ')} (full is YOLOv7-seg), or w<width multiple> (e.g. w0.125) for the official architecture at that width_multiple`, parseModelSize, d.model)
    .addOption(new Option('--engine <e>', 'what computes gradients: onnx (generated ONNX training graphs on onnxruntime, ~5x faster) or tfjs (autograd)').choices([...ENGINES]).default(d.engine))
    .option('--threads <n>', 'onnxruntime threads of the onnx engine (0: every core)', integerAtLeast(0), 0)
    // Measured side by side (npm run bench:official, 2 cores): 1 worker took 0.90-0.95x the time of none.
    .option('--workers <n>', 'worker threads that make the next batches (mosaic, resampling, masks) while the step runs; the result is the same for any number (0: inline)', integerAtLeast(0), 1)
    .addOption(new Option('--device <d>', 'tfjs backend (the loss, validation, and the tfjs engine)').choices([...DEVICES]).default('auto'))
    .addOption(new Option('--optimizer <o>', 'auto (AdamW for runs of at most 10,000 updates, SGD beyond, as Ultralytics), sgd (Nesterov) or adamw').choices(['auto', 'sgd', 'adamw']).default(d.optimizer))
    .option('--lr0 <x>', 'initial learning rate (default: 0.01 for SGD, 0.002 x 5 / (4 + classes) for AdamW)', numberIn(0, Infinity, { openMin: true }))
    .option('--lrf <x>', 'final learning rate as a fraction of lr0', numberIn(0, 1, { openMin: true }), d.lrf)
    .option('--momentum <x>', 'SGD momentum / Adam beta1', numberIn(0, 1), d.momentum)
    .option('--weight-decay <x>', 'weight decay of conv weights', numberIn(0, Infinity), d.weightDecay)
    .option('--warmup-epochs <x>', 'warm-up epochs', numberIn(0, Infinity), d.warmupEpochs)
    .option('--warmup-min-iters <n>', 'warm-up lasts at least this many batches (the official YOLOv7-seg: 100)', integerAtLeast(0), d.warmupMinIters ?? 0)
    .option('--clip-grad <x>', 'clip the gradient\'s global L2 norm to this before each update (the official code: 10; 0: no clipping)', numberIn(0, Infinity), d.clipGrad ?? 0)
    .option('--box <x>', 'box loss gain (a hyp file\'s box)', numberIn(0, Infinity), (d.gains ?? SCRATCH_HIGH_GAINS).box)
    .option('--obj <x>', 'objectness loss gain (a hyp file\'s obj; scaled by (imgsz / 640)^2)', numberIn(0, Infinity), (d.gains ?? SCRATCH_HIGH_GAINS).obj)
    .option('--cls <x>', 'class loss gain (a hyp file\'s cls; scaled by classes / 80)', numberIn(0, Infinity), (d.gains ?? SCRATCH_HIGH_GAINS).cls)
    .option('--cos-lr', 'cosine learning-rate decay instead of linear', d.cosine)
    .option('--nbs <n>', 'nominal batch size: gradients accumulate to it (YOLO uses 64); default: the batch, no accumulation', integerAtLeast(1))
    .option('--no-augment', 'switch every augmentation off')
    .option('--precise-bn <n>', 'batches of training tiles that recompute BN statistics before each validation (0: YOLO\'s running averages only)', integerAtLeast(0), d.preciseBn)
    .option('--val-interval <n>', 'validate every n epochs (and after the last)', integerAtLeast(1), d.valInterval)
    .option('--seed <n>', 'random seed (weights, batches, augmentation)', parseInteger, d.seed)
    .addOption(new Option('--mask-target <t>', 'mask targets at prototype resolution: official (YOLOv7-seg\'s 0/1 masks: filled at full size, resized bilinearly, rounded) or coverage (each cell\'s covered fraction)').choices([...MASK_TARGETS]).default(d.maskTarget))
    .option('--resume', 'continue runs/train/<name> from weights/last with its saved settings (with --epochs: train on to that many)', false);
  for (const [key, help] of Object.entries(AUGMENT_HELP)) {
    const range = PROBABILITIES.has(key) ? numberIn(0, 1) : numberIn(0, Infinity);
    cmd.option(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <x>`, help, range, DEFAULT_AUGMENT[key as keyof AugmentConfig]);
  }
  cmd.addOption(new Option('--mosaic-view <v>', 'how a mosaic is framed: canvas (the official YOLO mosaic: random centre on a 2x canvas, --scale and --translate act on the whole canvas) or crop (a tile-sized crop, then scaled about its centre, grey borders when zoomed out)').choices([...MOSAIC_VIEWS]).default(DEFAULT_AUGMENT.mosaicView));
  return cmd
    .action(async (o: Record<string, unknown> & { device: Device; augment: boolean; name: string }) => {
      if (o.resume) await checkResumeFlags(cmd, o);
      await setupBackend(o.device);
      let bar: SingleBar | null = null;
      const onProgress = (p: TrainProgress) => {
        if (!process.stderr.isTTY) return;
        if (p.batch === 1) {
          bar?.stop();
          bar = new SingleBar({
            format: `epoch ${p.epoch + 1}/${p.epochs} [{bar}] {value}/{total} | box {box} obj {obj} cls {cls} seg {seg} | ETA {eta_formatted}`,
            stream: process.stderr,
          }, Presets.shades_classic);
          bar.start(p.batches, 0);
        }
        const f = (v: number) => v.toFixed(4);
        bar?.update(p.batch, { box: f(p.losses.box), obj: f(p.losses.obj), cls: f(p.losses.cls), seg: f(p.losses.seg) });
        if (p.batch === p.batches) { bar?.stop(); bar = null; }
      };
      const result = await train({
        ...DEFAULT_TRAIN,
        data: o.data as string, name: o.name, project: o.project as string, trainDatasets: o.trainDatasets as number[],
        fold: o.fold as number | undefined, folds: o.folds as number, foldSeed: o.foldSeed as number, init: o.init as string | undefined,
        imgsz: o.imgsz as number, epochs: o.epochs as number, batch: o.batch as number, model: o.model as string,
        optimizer: o.optimizer as 'auto' | 'sgd' | 'adamw', lr0: o.lr0 as number | undefined, lrf: o.lrf as number, momentum: o.momentum as number,
        weightDecay: o.weightDecay as number, warmupEpochs: o.warmupEpochs as number, cosine: Boolean(o.cosLr), nbs: o.nbs as number | undefined,
        warmupMinIters: o.warmupMinIters as number, clipGrad: o.clipGrad as number, gains: { box: o.box as number, obj: o.obj as number, cls: o.cls as number },
        augment: o.augment ? { ...Object.fromEntries(Object.keys(AUGMENT_HELP).map((k) => [k, o[k] as number])), mosaicView: o.mosaicView } as unknown as AugmentConfig : NO_AUGMENT, seed: o.seed as number, resume: Boolean(o.resume), extendTo: o.resume && cmd.getOptionValueSource('epochs') === 'cli' ? (o.epochs as number) : undefined, preciseBn: o.preciseBn as number, valInterval: o.valInterval as number, engine: o.engine as EngineName, threads: o.threads as number, workers: o.workers as number, maskTarget: o.maskTarget as MaskTarget,
      }, onProgress, (line) => console.log(line));
      console.log(`done: ${result.runDir} (best epoch ${result.best.epoch + 1}, val AP@0.6 ${result.best.ap60.toFixed(4)})`);
    });
}
