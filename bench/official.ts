/**
 * npm run bench:official -- --yolov7 PATH [--seeds 1,2,3] [--epochs 30] [--variant NAME] [...]
 *
 * The official YOLOv7-seg and vascseg trained side by side on the same tiles with matched
 * settings, each predicting the same held-out tiles its own way, both scored by our metric
 * (`vascseg eval`, AP@0.6 of blood_vessel). Per data seed:
 *   1. a synthetic demo dataset (`vascseg synth --preset demo --seed S`), or `--data DIR`;
 *   2. the expert tiles in `--folds` folds (our `expertFolds`, grid-row bands); fold `--fold`
 *      is held out, the rest train (40 demo tiles in 3 folds: 25 train, 15 held out);
 *   3. the official layout: images/{train,val} (links to our tiles), labels/{train,val} (one
 *      `class x1 y1 x2 y2 ...` line per polygon, normalised), data.yaml, the model yaml at
 *      `--width` (their yolov7-seg.yaml with width_multiple and nc replaced) and a hyp yaml;
 *   4. the official `segment/train.py` run in place (bench/official_run.py), then its predict
 *      path on the held-out tiles (forward, non_max_suppression, process_mask);
 *   5. `vascseg train` with the mapped settings, then `vascseg predict --format coco`;
 *   6. both scored; a table of AP and training time, and `results.jsonl` in `--work`.
 * Finished runs are kept: a rerun with the same seed, variant and settings (epochs, size, batch,
 * width, threads, fold, generator version) reuses them; other settings rerun them (`--fresh` redoes).
 *
 * Settings and how they map (the official side takes them from its hyp yaml and flags):
 *   epochs, batch, imgsz          --epochs --batch-size --imgsz    | --epochs --batch --imgsz
 *   architecture                  yolov7-seg.yaml, width_multiple  | --model w<width>
 *   optimizer, lr0, lrf, momentum --optimizer AdamW, hyp lr0/lrf/momentum | --optimizer adamw --lr0 --lrf --momentum
 *   weight decay                  hyp weight_decay (x batch*accumulate/64 = 1 here) | --weight-decay
 *   warm-up                       hyp warmup_epochs, at least 100 iterations | --warmup-epochs --warmup-min-iters
 *   nominal batch (--nbs, default the batch) train.py's `nbs = 64`, set in memory | --nbs (accumulation ramps up over warm-up)
 *   gradient clipping             norm 10, fixed in train.py        | --clip-grad 10
 *   loss gains                    hyp box/obj/cls (x 3/nl, obj x (imgsz/640)^2, cls x nc/80) | --box --obj --cls
 *   augmentation                  hyp mosaic/scale/translate/fliplr/flipud/hsv_s/hsv_v | the same-named flags
 *   EMA                           ModelEMA, decay 0.9999, ramp tau 2000 | the same (fixed)
 *   validation                    --noval (the last epoch only)     | --val-interval = epochs
 *   weights scored                weights/last.pt (no selection on the held-out tiles) | weights/last
 *   mosaic                        load_mosaic + random_perspective  | --mosaic-view canvas
 *   predict                       conf 0.001, NMS IoU 0.55, 300 per tile, no post-processing | --conf --iou --max-det, --post none
 *   threads                       torch.set_num_threads(--threads)  | --threads (and train's default --workers 1)
 * `--ours "FLAGS"` appends flags to our train (a variant), `--ours-predict "FLAGS"` to our
 * predict, `--hyp key=value,...` changes the official hyp; `--variant NAME` names the result.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile, appendFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { imagePath, loadDataset } from '../src/data/dataset.ts';
import { expertFolds } from '../src/data/folds.ts';
import { CLASS_INDEX } from '../src/train/data.ts';
import { TILE_SIZE } from '../src/data/types.ts';
import { GENERATOR_VERSION, generatorVersionOf } from '../src/synth/generate.ts';

const args = process.argv.slice(2);
function flag(name: string, def?: string): string {
  const k = args.indexOf(name);
  if (k >= 0) {
    const v = args[k + 1];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  }
  if (def === undefined) throw new Error(`${name} is required (see the comment at the top of bench/official.ts)`);
  return def;
}
const has = (name: string) => args.includes(name);

const official = resolve(flag('--yolov7'));
if (!existsSync(join(official, 'segment', 'train.py'))) throw new Error(`--yolov7 ${official}: not the official YOLOv7-seg code (no segment/train.py)`);
const seeds = flag('--seeds', flag('--seed', '1')).split(',').map(Number);
const epochs = Number(flag('--epochs', '30'));
const batch = Number(flag('--batch', '4'));
const imgsz = Number(flag('--imgsz', '256'));
const width = flag('--width', '0.125');
const folds = Number(flag('--folds', '3'));
const fold = Number(flag('--fold', '0'));
const threads = Number(flag('--threads', '2'));
const python = flag('--python', process.env.PYTHON ?? 'python3');
const work = resolve(flag('--work', join('runs', 'bench', 'official')));
const variant = flag('--variant', 'matched');
if (!/^[\w.-]+$/.test(variant)) throw new Error(`--variant ${variant}: letters, digits, '.', '-' and '_' only (it names files)`);
const oursExtra = flag('--ours', '').split(/\s+/).filter(Boolean);
const oursPredictExtra = flag('--ours-predict', '').split(/\s+/).filter(Boolean);
const sides = flag('--sides', 'official,ours').split(',');
const fresh = has('--fresh');
/** The nominal batch of both sides (the official train.py fixes 64 in its source; see official_run.py). */
const nbs = Number(flag('--nbs', String(batch)));

/** The recipe both sides train with: the official hyp.scratch-low.yaml, AdamW at lr0 0.003. */
const HYP: Record<string, number> = {
  lr0: 0.003, lrf: 0.01, momentum: 0.937, weight_decay: 0.0005, warmup_epochs: 3.0, warmup_momentum: 0.8, warmup_bias_lr: 0.1,
  box: 0.05, cls: 0.5, cls_pw: 1.0, obj: 1.0, obj_pw: 1.0, iou_t: 0.2, anchor_t: 4.0, fl_gamma: 0.0,
  hsv_h: 0.015, hsv_s: 0.7, hsv_v: 0.4, degrees: 0.0, translate: 0.1, scale: 0.5, shear: 0.0, perspective: 0.0,
  flipud: 0.0, fliplr: 0.5, mosaic: 1.0, mixup: 0.0, copy_paste: 0.0,
};
for (const kv of flag('--hyp', '').split(',').filter(Boolean)) {
  const [k, v] = kv.split('=');
  if (!k || !(k in HYP) || v === undefined || !Number.isFinite(Number(v))) throw new Error(`--hyp ${kv}: expected key=number with a key of ${Object.keys(HYP).join(', ')}`);
  HYP[k] = Number(v);
}

/** Our train flags for the same recipe. Hue jitter (hsv_h 0.015) has no counterpart here. */
function oursFlags(): string[] {
  return [
    '--model', `w${width}`, '--imgsz', String(imgsz), '--batch', String(batch), '--epochs', String(epochs),
    '--optimizer', 'adamw', '--lr0', String(HYP.lr0), '--lrf', String(HYP.lrf), '--momentum', String(HYP.momentum), '--weight-decay', String(HYP.weight_decay),
    '--warmup-epochs', String(HYP.warmup_epochs), '--warmup-min-iters', '100', '--nbs', String(nbs), '--clip-grad', '10',
    '--box', String(HYP.box), '--obj', String(HYP.obj), '--cls', String(HYP.cls),
    '--mosaic', String(HYP.mosaic), '--scale', String(HYP.scale), '--translate', String(HYP.translate), '--fliplr', String(HYP.fliplr), '--flipud', String(HYP.flipud),
    '--rot90', '0', '--stain', '0', '--hsv-s', String(HYP.hsv_s), '--hsv-v', String(HYP.hsv_v),
    '--mosaic-view', 'canvas', '--precise-bn', '0', '--mask-target', 'official', '--val-interval', String(epochs), '--threads', String(threads),
  ];
}

function run(cmd: string, argv: string[], logFile: string, cwd?: string): Promise<number> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', fail);
    child.on('close', async (code) => {
      const text = Buffer.concat(chunks).toString('utf8');
      await writeFile(logFile, text);
      if (code !== 0) fail(new Error(`${cmd} ${argv.slice(0, 3).join(' ')} ... failed (exit ${code}); log: ${logFile}\n${text.slice(-3000)}`));
      else done((performance.now() - started) / 1000);
    });
  });
}

const vascseg = (argv: string[], log: string) => run(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), ...argv], log);

async function dataset(seed: number): Promise<string> {
  if (has('--data')) return resolve(flag('--data'));
  const dir = join(work, `data-${seed}`);
  const version = await generatorVersionOf(dir);
  if (version !== null && version !== GENERATOR_VERSION) {
    // The bench's own folder: a world of another generator version would be scored as today's.
    console.log(`seed ${seed}: ${dir} was rendered by generator version ${version}, today's is ${GENERATOR_VERSION}: rendering it again`);
    await rm(dir, { recursive: true, force: true });
  }
  if (!existsSync(join(dir, 'tile_meta.csv'))) {
    console.log(`seed ${seed}: rendering the demo dataset`);
    await mkdir(work, { recursive: true });
    await vascseg(['synth', '--preset', 'demo', '--seed', String(seed), '--out', dir], join(work, `synth-${seed}.log`));
  }
  return dir;
}

/** The official layout for one split: links to our tiles, YOLO polygon labels. */
async function officialLayout(dir: string, seed: number): Promise<{ root: string; train: string[]; val: string[] }> {
  const ds = await loadDataset(dir);
  const foldOf = expertFolds(ds, folds, 0);
  const expert = ds.tiles.filter((t) => t.dataset === 1 && ds.labels.has(t.id));
  const val = expert.filter((t) => foldOf.get(t.id) === fold).map((t) => t.id);
  const train = expert.filter((t) => foldOf.get(t.id) !== fold).map((t) => t.id);
  const root = join(work, `official-${seed}`);
  for (const [split, ids] of [['train', train], ['val', val]] as const) {
    await rm(join(root, 'images', split), { recursive: true, force: true });
    await rm(join(root, 'labels', split), { recursive: true, force: true });
    await mkdir(join(root, 'images', split), { recursive: true });
    await mkdir(join(root, 'labels', split), { recursive: true });
    for (const id of ids) {
      const src = imagePath(ds, id);
      if (!src) throw new Error(`${dir}: tile ${id} has no image`);
      await symlink(resolve(src), join(root, 'images', split, `${id}.tif`));
      const lines = (ds.labels.get(id) ?? []).map((a) => {
        const ring = a.coordinates[0]!;
        return [CLASS_INDEX[a.type], ...ring.flatMap(([x, y]) => [x / TILE_SIZE, y / TILE_SIZE].map((v) => Math.min(1, Math.max(0, v)).toFixed(6)))].join(' ');
      });
      await writeFile(join(root, 'labels', split, `${id}.txt`), lines.join('\n') + '\n');
    }
  }
  await writeFile(join(root, 'data.yaml'), `path: ${root}\ntrain: images/train\nval: images/val\nnc: 3\nnames: ['blood_vessel', 'glomerulus', 'unsure']\n`);
  const cfg = (await readFile(join(official, 'models', 'segment', 'yolov7-seg.yaml'), 'utf8'))
    .replace(/^nc:.*$/m, 'nc: 3').replace(/^width_multiple:.*$/m, `width_multiple: ${width}`);
  await writeFile(join(root, `yolov7-seg-w${width}.yaml`), cfg);
  await writeFile(join(root, 'val.txt'), val.join('\n') + '\n');
  await writeFile(join(root, 'val-images.txt'), val.map((id) => join(root, 'images', 'val', `${id}.tif`)).join('\n') + '\n');
  return { root, train, val };
}

async function score(dir: string, pred: string, ids: string, log: string): Promise<number> {
  await vascseg(['eval', '--data', dir, '--pred', pred, '--ids', ids, '--json'], log);
  const text = await readFile(log, 'utf8');
  return (JSON.parse(text.slice(text.indexOf('{'))) as { ap: number }).ap;
}

interface Result { side: string; variant: string; seed: number; ap: number; trainSeconds: number; predictSeconds: number; train: number; val: number; settings?: string }

/** What a kept result was measured under: one kept at other settings (or on another generator's tiles) is run again. */
const SETTINGS = JSON.stringify({
  generator: GENERATOR_VERSION, epochs, imgsz, width, batch, nbs, threads, folds, fold, hyp: HYP, ours: oursExtra, oursPredict: oursPredictExtra,
  data: has('--data') ? resolve(flag('--data')) : null,
});

async function keptResult(file: string): Promise<Result | null> {
  if (!existsSync(file)) return null;
  const r = JSON.parse(await readFile(file, 'utf8')) as Result;
  return r.settings === SETTINGS ? r : null;
}

/** One training of one side: a name, and what it changes against the matched recipe. */
interface Spec { side: 'official' | 'ours'; variant: string; train?: string[]; predict?: string[]; what: string; speedOnly?: boolean }

/**
 * The ablations (`--ablate all` or names): one difference at a time from the matched recipe,
 * each on our side (the official side is the fixed reference).
 */
const ABLATIONS: Spec[] = [
  { side: 'ours', variant: 'crop-mosaic', train: ['--mosaic-view', 'crop'], what: 'mosaic framed as a tile-sized crop, scaled about its centre (grey borders)' },
  { side: 'ours', variant: 'mosaic-0.5', train: ['--mosaic', '0.5'], what: 'mosaic probability 0.5 instead of 1' },
  { side: 'ours', variant: 'no-warmup-floor', train: ['--warmup-min-iters', '0'], what: 'warm-up of 3 epochs only (no 100-iteration floor)' },
  { side: 'ours', variant: 'no-clip', train: ['--clip-grad', '0'], what: 'no gradient clipping' },
  { side: 'ours', variant: 'coverage-masks', train: ['--mask-target', 'coverage'], what: 'mask targets: cell coverage instead of the official 0/1 masks' },
  { side: 'ours', variant: 'scratch-high-gains', train: ['--obj', '0.7', '--cls', '0.3'], what: 'loss gains obj 0.7, cls 0.3 (hyp.scratch-high) instead of 1.0, 0.5' },
  { side: 'ours', variant: 'precise-bn', train: ['--precise-bn', '16'], what: 'BN statistics recomputed on 16 batches before validating and saving' },
  { side: 'ours', variant: 'lcc', predict: ['--post', 'lcc'], what: 'largest-component post-processing of each mask' },
  { side: 'ours', variant: 'dihedral', train: ['--flipud', '0.5', '--rot90', '0.5'], what: 'vertical flips and quarter turns (histology has no up)' },
  { side: 'ours', variant: 'stain', train: ['--stain', '0.05'], what: 'stain jitter (colour deconvolution) 0.05' },
  { side: 'ours', variant: 'scale-0.25', train: ['--scale', '0.25'], what: 'scale 1 +- 0.25 instead of 0.5' },
  { side: 'ours', variant: 'tiny', train: ['--model', 'tiny'], what: 'our tiny model (half the ELAN depth) instead of the official architecture at w0.125' },
  // Speed only (the same batches by construction, so the same AP): not in `all`.
  { side: 'ours', variant: 'workers-1', train: ['--workers', '1'], what: 'batches made in a worker thread ahead of the step (the default)', speedOnly: true },
  { side: 'ours', variant: 'workers-0', train: ['--workers', '0'], what: 'batches made inline, between steps', speedOnly: true },
];

const specs: Spec[] = sides.map((side) => ({ side: side as Spec['side'], variant, train: oursExtra, predict: oursPredictExtra, what: 'the matched recipe' + (oursExtra.length ? ` with ${oursExtra.join(' ')}` : '') }));
const ablate = flag('--ablate', '');
if (ablate) {
  const wanted = ablate === 'all' ? ABLATIONS.filter((a) => !a.speedOnly) : ablate.split(',').map((name) => {
    const a = ABLATIONS.find((x) => x.variant === name);
    if (!a) throw new Error(`--ablate ${name}: not one of ${ABLATIONS.map((x) => x.variant).join(', ')}`);
    return a;
  });
  specs.push(...wanted);
}

async function runOne(spec: Spec, seed: number, dir: string, root: string, train: string[], val: string[]): Promise<Result> {
  const key = `${spec.side}-${spec.variant}`;
  const cached = join(root, `${key}.result.json`);
  const kept = fresh ? null : await keptResult(cached);
  if (kept) {
    console.log(`seed ${seed} ${key}: AP@0.6 ${kept.ap.toFixed(4)} (kept from ${cached})`);
    return kept;
  }
  if (!fresh && existsSync(cached)) console.log(`seed ${seed} ${key}: the kept result was measured at other settings: running it again`);
  const pred = join(root, `${key}.pred.json`);
  const project = join(root, 'runs');
  if (spec.train?.length || spec.side === 'official' || spec.variant === variant) await rm(join(project, key), { recursive: true, force: true });
  let trainSeconds: number, predictSeconds: number;
  if (spec.side === 'official') {
    await writeFile(join(root, `hyp-${key}.yaml`), Object.entries(HYP).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');
    trainSeconds = await run(python, [resolve('bench/official_run.py'), 'train', official, String(threads), `--nbs=${nbs}`, '--',
      '--data', join(root, 'data.yaml'), '--cfg', join(root, `yolov7-seg-w${width}.yaml`), '--weights', '', '--hyp', join(root, `hyp-${key}.yaml`),
      '--epochs', String(epochs), '--batch-size', String(batch), '--imgsz', String(imgsz), '--device', 'cpu', '--optimizer', 'AdamW',
      '--noval', '--noplots', '--project', project, '--name', key, '--exist-ok', '--seed', '0'], join(root, `${key}.train.log`), official);
    predictSeconds = await run(python, [resolve('bench/official_run.py'), 'predict', official, join(project, key, 'weights', 'last.pt'), join(root, 'val-images.txt'), pred,
      String(imgsz), '0.001', '0.55', '300', String(threads)], join(root, `${key}.predict.log`));
  } else {
    // A variant that changes only the prediction reuses the matched run's weights (training is deterministic).
    const predictOnly = !spec.train?.length && spec.variant !== variant;
    const trained = predictOnly ? `ours-${variant}` : key;
    if (predictOnly) {
      const matched = join(root, `ours-${variant}.result.json`);
      const m = await keptResult(matched);
      if (!m) throw new Error(`${key} predicts with the matched run's weights: run the matched recipe at these settings first (${matched})`);
      trainSeconds = m.trainSeconds;
    } else {
      trainSeconds = await vascseg(['train', '--data', dir, '--fold', String(fold), '--folds', String(folds), '--project', project, '--name', key, ...oursFlags(), ...(spec.train ?? [])], join(root, `${key}.train.log`));
    }
    predictSeconds = await vascseg(['predict', '--weights', join(project, trained, 'weights', 'last'), '--source', dir, '--split', 'train', '--ids', join(root, 'val.txt'),
      '--imgsz', String(imgsz), '--conf', '0.001', '--iou', '0.55', '--max-det', '300', '--post', 'none', '--format', 'coco', '--out', pred, '--threads', String(threads), ...(spec.predict ?? [])], join(root, `${key}.predict.log`));
  }
  const ap = await score(dir, pred, join(root, 'val.txt'), join(root, `${key}.eval.log`));
  const r: Result = { side: spec.side, variant: spec.variant, seed, ap, trainSeconds, predictSeconds, train: train.length, val: val.length, settings: SETTINGS };
  await writeFile(cached, JSON.stringify(r));
  await appendFile(join(work, 'results.jsonl'), JSON.stringify({ ...r, trainFlags: spec.train ?? [], predictFlags: spec.predict ?? [], hyp: HYP, epochs, imgsz, width, batch, nbs, threads, at: new Date().toISOString() }) + '\n');
  console.log(`seed ${seed} ${key}: AP@0.6 ${ap.toFixed(4)}, train ${trainSeconds.toFixed(0)} s, predict ${predictSeconds.toFixed(1)} s`);
  return r;
}

const results: Result[] = [];
for (const seed of seeds) {
  const dir = await dataset(seed);
  const { root, train, val } = await officialLayout(dir, seed);
  console.log(`seed ${seed}: ${train.length} tiles train, ${val.length} held out (fold ${fold} of ${folds})`);
  for (const spec of specs) results.push(await runOne(spec, seed, dir, root, train, val));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const fmt = (x: number) => x.toFixed(4);
console.log(`\n${epochs} epochs, ${imgsz} px, batch ${batch}, nominal batch ${nbs}, width ${width}, ${threads} threads; AP@0.6 on the held-out fold; sd over seeds\n`);
console.log(`| run | ${seeds.map((s) => `seed ${s}`).join(' | ')} | mean (sd) | vs ours matched | train s, median |`);
console.log(`|---|${seeds.map(() => '---|').join('')}---|---|---|`);
const oursMatched = results.filter((r) => r.side === 'ours' && r.variant === variant).map((r) => r.ap);
for (const spec of specs) {
  const rs = results.filter((r) => r.side === spec.side && r.variant === spec.variant);
  const aps = rs.map((r) => r.ap);
  const label = spec.side === 'official' ? `official segment/train.py (w${width})` : spec.variant === variant ? `vascseg train --model w${width}` : `ours: ${spec.what}`;
  const delta = spec.side === 'ours' && spec.variant !== variant && oursMatched.length === aps.length ? `${mean(aps) - mean(oursMatched) >= 0 ? '+' : ''}${fmt(mean(aps) - mean(oursMatched))}` : '';
  const times = rs.map((r) => r.trainSeconds).sort((a, b) => a - b);
  console.log(`| ${label} | ${aps.map(fmt).join(' | ')} | ${fmt(mean(aps))} (${fmt(sd(aps))}) | ${delta} | ${times[Math.floor(times.length / 2)]!.toFixed(0)} |`);
}
