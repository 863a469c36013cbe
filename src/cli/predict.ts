import { Command, Option } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { loadDataset, readTileImage, type Split } from '../data/dataset.ts';
import { readRgb, type RgbImage } from '../data/images.ts';
import { TILE_SIZE } from '../data/types.ts';
import { setupBackend, DEVICES, type Device } from '../engine/backend.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { DEFAULT_PREDICT, predictTile } from '../infer/predict.ts';
import { defaultOutput, FORMATS, writePredictions, type OutputFormat, type PredictedTile } from '../infer/outputs.ts';
import { parseInteger, parseNumber } from './options.ts';
import { progress } from './progress.ts';

interface PredictCli {
  weights: string[];
  source: string;
  split?: Split;
  ids?: string;
  imgsz?: number;
  conf: number;
  iou: number;
  tta: 'none' | 'flip';
  post: 'lcc' | 'none';
  dilate: number;
  maxDet: number;
  format: OutputFormat;
  out?: string;
  name: string;
  device: Device;
}

/** The tiles to predict: a dataset directory's test/ (or train/) images, or one image file. */
async function sources(opts: PredictCli): Promise<{ id: string; load: () => Promise<RgbImage> }[]> {
  if ((await stat(opts.source)).isFile()) {
    const id = basename(opts.source).replace(/\.[^.]+$/, '');
    return [{ id, load: () => readRgb(opts.source, { width: TILE_SIZE, height: TILE_SIZE }, id) }];
  }
  const ds = await loadDataset(opts.source, { strict: true });
  const split: Split = opts.split ?? (ds.images.test.size > 0 ? 'test' : 'train');
  let ids = [...ds.images[split]].sort();
  if (opts.ids) {
    const wanted = new Set((await readFile(opts.ids, 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter(Boolean));
    const missing = [...wanted].filter((id) => !ds.images[split].has(id));
    if (missing.length > 0) throw new Error(`${opts.ids}: ${missing.length} ids have no image in ${join(opts.source, split)}: ${missing.slice(0, 5).join(', ')}`);
    ids = ids.filter((id) => wanted.has(id));
  }
  return ids.map((id) => ({ id, load: () => readTileImage(ds, id, split) }));
}

export function predictCommand(): Command {
  return new Command('predict')
    .description('predict vessel instances with one model or a fold ensemble (NMS keeping the selected model\'s mask), largest-component post-processing, and write Kaggle, COCO, GeoJSON, label or overlay outputs')
    .requiredOption('--weights <dirs...>', 'checkpoint directories (e.g. runs/train/exp/weights/best); several make an ensemble')
    .requiredOption('--source <path>', 'a dataset directory in the Kaggle layout, or one 512x512 image')
    .addOption(new Option('--split <s>', 'which images of a dataset directory (default: test/ when it has images, else train/)').choices(['train', 'test']))
    .option('--ids <file>', 'predict only these tile ids (one per line)')
    .option('--imgsz <px>', 'inference size (default: the size the first model was trained at)', parseInteger)
    .option('--conf <x>', 'minimum score (objectness x class)', parseNumber, DEFAULT_PREDICT.conf)
    .option('--iou <x>', 'NMS IoU threshold, within a model and across the ensemble', parseNumber, DEFAULT_PREDICT.iou)
    .addOption(new Option('--tta <t>', 'test-time augmentation: flips merged before the ensemble step').choices(['none', 'flip']).default(DEFAULT_PREDICT.tta))
    .addOption(new Option('--post <p>', 'keep the largest connected component of each mask, or nothing').choices(['lcc', 'none']).default(DEFAULT_PREDICT.post))
    .option('--dilate <px>', 'dilate masks by this many pixels (the seed found it hurts)', parseInteger, DEFAULT_PREDICT.dilate)
    .option('--max-det <n>', 'most instances per tile', parseInteger, DEFAULT_PREDICT.maxDet)
    .addOption(new Option('--format <f>', 'output format').choices([...FORMATS]).default('kaggle'))
    .option('--out <path>', 'output file (kaggle, coco) or directory (geojson, labels, overlay); default under runs/predict/<name>/')
    .option('--name <name>', 'run name under runs/predict/', 'exp')
    .addOption(new Option('--device <d>', 'tfjs backend').choices([...DEVICES]).default('auto'))
    .action(async (opts: PredictCli) => {
      await setupBackend(opts.device);
      const models = [];
      for (const w of opts.weights) models.push(await loadCheckpoint(w));
      const imgsz = opts.imgsz ?? models[0]!.meta.imgsz;
      const tiles = await sources(opts);
      const bar = progress('predicting');
      const results: PredictedTile[] = [];
      for (const [k, t] of tiles.entries()) {
        const image = await t.load();
        results.push({ id: t.id, image, predictions: predictTile(models.map((m) => m.model), image, { imgsz, conf: opts.conf, iou: opts.iou, maxDet: opts.maxDet, tta: opts.tta, post: opts.post, dilate: opts.dilate }) });
        bar.update(k + 1, tiles.length);
      }
      bar.stop();
      const out = opts.out ?? defaultOutput(join('runs', 'predict', opts.name), opts.format);
      await writePredictions(opts.format, out, results);
      const n = results.reduce((s, r) => s + r.predictions.length, 0);
      console.log(`${tiles.length} tiles, ${n} vessels (${models.length} model${models.length > 1 ? 's' : ''}, imgsz ${imgsz}, tta ${opts.tta}, post ${opts.post}): wrote ${out}`);
    });
}
