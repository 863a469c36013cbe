import { Command, Option } from 'commander';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { loadDataset, readTileImage, type Split } from '../data/dataset.ts';
import { readRgb, type RgbImage } from '../data/images.ts';
import { TILE_SIZE, tileIdProblem, type Annotation } from '../data/types.ts';
import { setupBackend, DEVICES, type Device } from '../engine/backend.ts';
import { DEFAULT_PREDICT, type NeighbourLookup, type Prediction } from '../infer/predict.ts';
import { FinishPool } from '../infer/finish-pool.ts';
import { predictSources } from '../infer/tiles.ts';
import { ENSEMBLES, type EnsembleMethod } from '../infer/ensemble.ts';
import { neighbourFinder } from '../infer/neighbours.ts';
import { openOnnxModel, openRuntime, RUNTIMES, type OnnxModel, type Runtime, type RuntimeName } from '../infer/runtime.ts';
import { DEFAULT_SHOW_CONF, defaultOutput, FORMATS, writePredictions, type OutputFormat, type PredictedTile } from '../infer/outputs.ts';
import { integerAtLeast, numberIn, parseImgsz, readIdList } from './options.ts';
import { progress } from './progress.ts';
import { claimRunDir, prepareOutput } from '../util/fs.ts';

/** The default number of tile workers: each holds its own sessions of every model, so memory grows with them. */
const MAX_TILE_WORKERS = 8;

interface PredictCli {
  weights: string[];
  source: string;
  split?: Split;
  ids?: string;
  imgsz?: number;
  conf: number;
  iou: number;
  tta: 'none' | 'flip';
  ensemble: EnsembleMethod;
  context: number;
  runtime: RuntimeName;
  threads?: number;
  workers?: number;
  provider: 'cpu' | 'cuda';
  post: 'lcc' | 'none';
  dilate: number;
  maxDet: number;
  format: OutputFormat;
  showConf: number;
  out?: string;
  name: string;
  device: Device;
}

interface Source {
  id: string;
  load: () => Promise<RgbImage>;
  /** The tile's neighbours in its slide (by `i, j`) that the source has images of. */
  neighbours: () => Promise<NeighbourLookup>;
  /** The tile's labels when the source dataset has them (train/ tiles), for overlays. */
  truth?: Annotation[];
}

/** The tiles to predict: a dataset directory's test/ (or train/) images, or one image file. */
async function sources(opts: PredictCli): Promise<Source[]> {
  const st = await stat(opts.source).catch(() => null);
  if (!st) throw new Error(`${opts.source}: no such file or directory`);
  if (st.isFile()) {
    const id = basename(opts.source).replace(/\.[^.]+$/, '');
    // The id goes into the submission and every output's file names: it must be a plain one.
    const problem = tileIdProblem(id);
    if (problem) throw new Error(`${opts.source}: the tile id is taken from the file name, and "${id}" ${problem.replace(/^tile id /, '')}; rename the file`);
    return [{ id, load: () => readRgb(opts.source, { width: TILE_SIZE, height: TILE_SIZE }, id), neighbours: async () => () => null }];
  }
  const ds = await loadDataset(opts.source, { strict: true });
  const split: Split = opts.split ?? (ds.images.test.size > 0 ? 'test' : 'train');
  let ids = [...ds.images[split]].sort();
  if (opts.ids) {
    const wanted = await readIdList(opts.ids);
    const missing = [...wanted].filter((id) => !ds.images[split].has(id));
    if (missing.length > 0) throw new Error(`${opts.ids}: ${missing.length} ids have no image in ${join(opts.source, split)}: ${missing.slice(0, 5).join(', ')}`);
    ids = ids.filter((id) => wanted.has(id));
  }
  const neighbours = neighbourFinder(ds, split);
  return ids.map((id) => ({ id, load: () => readTileImage(ds, id, split), neighbours: () => neighbours(id), truth: split === 'train' ? ds.labels.get(id) : undefined }));
}

export function predictCommand(): Command {
  return new Command('predict')
    .description('predict vessel instances with one model or a fold ensemble (NMS keeping the selected model\'s mask), largest-component post-processing, and write Kaggle, COCO, GeoJSON, label or overlay outputs')
    .requiredOption('--weights <dirs...>', 'checkpoint directories (e.g. runs/train/exp/weights/best); several make an ensemble')
    .requiredOption('--source <path>', 'a dataset directory in the Kaggle layout, or one 512x512 image')
    .addOption(new Option('--split <s>', 'which images of a dataset directory (default: test/ when it has images, else train/)').choices(['train', 'test']))
    .option('--ids <file>', 'predict only these tile ids (one per line)')
    .option('--imgsz <px>', 'inference size (default: the size the first model was trained at)', parseImgsz)
    .option('--conf <x>', 'minimum score (objectness x class)', numberIn(0, 1), DEFAULT_PREDICT.conf)
    .option('--iou <x>', 'NMS IoU threshold, within a model and across the ensemble', numberIn(0, 1), DEFAULT_PREDICT.iou)
    .addOption(new Option('--tta <t>', 'test-time augmentation: flips merged before the ensemble step').choices(['none', 'flip']).default(DEFAULT_PREDICT.tta))
    .addOption(new Option('--ensemble <e>', 'how several models (and flips) combine: nms keeps the surviving model\'s mask (the seed), wsf fuses clusters (weighted segments fusion)').choices([...ENSEMBLES]).default(DEFAULT_PREDICT.ensemble))
    .option('--context <px>', 'pad each tile with this many pixels of its neighbours (by i, j in tile_meta.csv), mirrored where there are none', integerAtLeast(0), DEFAULT_PREDICT.context)
    .addOption(new Option('--post <p>', 'keep the largest connected component of each mask, or nothing').choices(['lcc', 'none']).default(DEFAULT_PREDICT.post))
    .option('--dilate <px>', 'dilate masks by this many pixels (the seed found it hurts)', integerAtLeast(0), DEFAULT_PREDICT.dilate)
    .option('--max-det <n>', 'most instances per tile', integerAtLeast(1), DEFAULT_PREDICT.maxDet)
    .addOption(new Option('--format <f>', 'output format').choices([...FORMATS]).default('kaggle'))
    .option('--show-conf <x>', 'overlays: draw instances at or above this score (the --conf floor of 0.001 is for scoring, not eyes)', numberIn(0, 1), DEFAULT_SHOW_CONF)
    .option('--out <path>', 'output file (kaggle, coco) or directory (geojson, labels, overlay); default under runs/predict/<name>/')
    .option('--name <name>', 'run name under runs/predict/', 'exp')
    .addOption(new Option('--runtime <r>', 'what runs the network: onnx (onnxruntime, fastest) or tfjs').choices([...RUNTIMES]).default('onnx'))
    .option('--threads <n>', 'onnxruntime threads per session (0: every core; default: the cores divided among the --workers)', integerAtLeast(0))
    .option('--workers <n>', `worker threads: with onnxruntime on the CPU each predicts whole tiles with sessions of its own (default: one per core, at most ${MAX_TILE_WORKERS}); otherwise one finishes each tile (masks, post-processing) while the network runs on the next (default 1); 0: all on the main thread`, integerAtLeast(0))
    .addOption(new Option('--provider <p>', 'onnxruntime execution provider; cuda needs an onnxruntime-node installed with --onnxruntime-node-install=cuda12').choices(['cpu', 'cuda']).default('cpu'))
    .addOption(new Option('--device <d>', 'tfjs backend (with --runtime tfjs)').choices([...DEVICES]).default('auto'))
    .action(async (opts: PredictCli) => {
      if (opts.context < 0 || opts.context > TILE_SIZE) throw new Error(`--context must be 0..${TILE_SIZE} px, got ${opts.context}`);
      if (opts.runtime === 'tfjs' || opts.weights.some((w) => !w.endsWith('.onnx'))) await setupBackend(opts.device);
      const tiles = await sources(opts);
      const models: Runtime[] = [];
      // Measured on 2 cores (npm run bench:infer, README): two workers each predicting whole
      // tiles on one onnxruntime thread beat one onnxruntime thread on the main thread with a
      // finishing worker beside it for a three-model ensemble (112.7-134.2 ms per tile against
      // 134.7-149.9; one model inside the noise), which beat two threads and no worker by
      // 1.08x-1.25x, and two threads beside the worker (52-53 ms against 61-70 per tile).
      const cores = availableParallelism();
      const onnxOnCpu = opts.runtime === 'onnx' && opts.provider === 'cpu';
      const workers = opts.workers ?? (onnxOnCpu ? Math.min(cores, MAX_TILE_WORKERS) : 1);
      const tileWorkers = onnxOnCpu && workers > 0;
      const threads = opts.threads ?? (workers === 0 ? 0 : tileWorkers ? Math.max(1, Math.floor(cores / workers)) : Math.max(1, cores - workers));
      // Tile workers open sessions of their own: this thread only exports the models.
      const networks: OnnxModel[] = [];
      for (const w of opts.weights) {
        if (tileWorkers) networks.push(await openOnnxModel(w));
        else models.push(await openRuntime(w, opts.runtime, { threads, provider: opts.provider }));
      }
      const imgsz = opts.imgsz ?? (networks[0] ?? models[0]!).imgsz;
      // Where the results go is settled before the long work, once the inputs are known good: a claimed run folder, or a checked --out.
      const out = opts.out ?? defaultOutput(await claimRunDir(join('runs', 'predict', opts.name)), opts.format);
      await prepareOutput(out, opts.format === 'kaggle' || opts.format === 'coco' ? 'file' : 'dir');
      const bar = progress('predicting');
      const options = { imgsz, conf: opts.conf, iou: opts.iou, maxDet: opts.maxDet, tta: opts.tta, ensemble: opts.ensemble, post: opts.post, dilate: opts.dilate, context: opts.context };
      const images = new Map<string, RgbImage>();
      // The Kaggle strings are encoded as each tile is finished, in a worker.
      const kaggle = opts.format === 'kaggle';
      const pool = tileWorkers
        ? await FinishPool.withNetworks(workers, networks, undefined, kaggle, threads)
        : new FinishPool(workers, undefined, kaggle);
      let predictions: Map<string, Prediction[]>;
      try {
        predictions = await predictSources(models, tiles, options, pool, (id, image, _p, done, total) => {
          // Overlays draw on the tile; other formats need no pixels.
          if (opts.format === 'overlay') images.set(id, image);
          bar.update(done, total);
        });
      } finally {
        await pool.close();
      }
      bar.stop();
      const blank: RgbImage = { width: TILE_SIZE, height: TILE_SIZE, data: new Uint8Array(0) };
      const results: PredictedTile[] = tiles.map((t) => ({ id: t.id, image: images.get(t.id) ?? blank, predictions: predictions.get(t.id)!, truth: t.truth }));
      for (const m of models) await m.dispose();
      await writePredictions(opts.format, out, results, opts.showConf);
      const n = results.reduce((s, r) => s + r.predictions.length, 0);
      console.log(`${tiles.length} tiles, ${n} vessels (${opts.weights.length} model${opts.weights.length > 1 ? 's' : ''}${opts.weights.length > 1 ? ` ${opts.ensemble}` : ''}, imgsz ${imgsz}, ${opts.runtime}, tta ${opts.tta}, context ${opts.context}, post ${opts.post}): wrote ${out}`);
    });
}
