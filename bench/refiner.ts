/**
 * npm run bench:refiner -- --real ../shared/hubmap-real --synthetic DIR --out DIR [--steps 1200]
 *   [--disc-channels 32] [--l1 2] [--lr 2e-4] [--crop 64] [--batch 16] [--seed 1]
 * npm run bench:refiner -- --synthetic DIR --out DIR --weights refiner.json   (apply a trained one)
 *
 * An experiment on issue 21 (synthetic realism), kept so that its figures can be reproduced:
 * can a learned local filter take the synthetic tiles' texture to the real tiles'? A refiner
 * (three 3x3 convolutions of 16 channels with ReLU, then a 1x1 to RGB added to the input, so
 * it starts as the identity and sees 3 px around each pixel: too little to draw or erase a
 * vessel, so the labels stay true) is trained against a patch discriminator (3x3 convolutions
 * of stride 2, 2 and 1, `--disc-channels` doubling, one logit per location, each seeing about
 * 15 px; inputs dequantised by +-0.5 grey so that 8-bit levels give nothing away), SimGAN's
 * recipe (Shrivastava et al. 2017): the discriminator learns real crops from refined ones, the
 * refiner to fool it while its mean absolute change, times `--l1`, keeps it near its input.
 * Crops of `--crop` px, `--batch` of each side per step, Adam (beta1 0.5), tfjs on wasm.
 *
 * The refiner's convolutions are unpadded: a crop takes 3 px of its tile around it, a whole
 * tile its own edge mirrored (so no border of zeros is learned or drawn).
 *
 * Writes `--out`, a copy of the synthetic dataset (labels and hidden truth as they are) with
 * every tile refined, and the refiner's weights (refiner.json, which `--weights` applies to
 * another dataset without training); then measure it with `npm run bench:realism -- --real DIR
 * --synthetic OUT`. The tiles are refined as the generator refines them (src/synth/refiner.ts,
 * whose architecture this one is), and a refiner.json this bench has measured is what the
 * generator ships (assets/reference/refiner.json).
 */
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadDataset } from '../src/data/dataset.ts';
import { encodeTiff, type RgbImage } from '../src/data/images.ts';
import { setupBackend } from '../src/engine/backend.ts';
import { prepareOutput } from '../src/util/fs.ts';
import { Rng } from '../src/util/random.ts';
import { checkRefiner, REACH, refineTile, type RefinerLayer } from '../src/synth/refiner.ts';
import { flagReader } from './flags.ts';
import { trainTileImages } from './tiles.ts';

const flag = flagReader('bench/refiner.ts');
const synthDir = resolve(flag('--synthetic')), out = resolve(flag('--out')), weightsFile = flag('--weights', '');
const steps = Number(flag('--steps', '1200')), discChannels = Number(flag('--disc-channels', '32'));
const l1Weight = Number(flag('--l1', '2')), lr = Number(flag('--lr', '2e-4')), crop = Number(flag('--crop', '64')), batch = Number(flag('--batch', '16'));
const rng = new Rng(Number(flag('--seed', '1')));
const TILE = 512;

if (out === synthDir) throw new Error(`--out ${out}: is the --synthetic dataset; the refined copy needs a folder of its own`);
await setupBackend('wasm');
await prepareOutput(out, 'dir');
const synth = await trainTileImages(await loadDataset(synthDir));

/** `n` random crops of `size` px (NHWC, 0..1) of random tiles of `set`. */
function crops(set: readonly { img: RgbImage }[], n: number, size: number): tf.Tensor4D {
  const data = new Float32Array(n * size * size * 3);
  for (let b = 0; b < n; b++) {
    const { img } = set[rng.int(0, set.length - 1)]!;
    const x0 = rng.int(0, TILE - size), y0 = rng.int(0, TILE - size);
    for (let y = 0; y < size; y++) {
      const src = ((y0 + y) * TILE + x0) * 3, dst = (b * size + y) * size * 3;
      for (let i = 0; i < size * 3; i++) data[dst + i] = img.data[src + i]! / 255;
    }
  }
  return tf.tensor4d(data, [n, size, size, 3]);
}

const heNormal = (shape: number[], fanIn: number, scale = 1) => tf.variable(tf.mul(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', rng.int(0, 2 ** 30)), scale));
const zeros = (n: number) => tf.variable(tf.zeros([n]));
interface Layer { w: tf.Variable; b: tf.Variable; stride: number }
const layer = (k: number, cin: number, cout: number, stride = 1, scale = 1): Layer => ({ w: heNormal([k, k, cin, cout], k * k * cin, scale), b: zeros(cout), stride });
const apply = (l: Layer, x: tf.Tensor4D, pad: 'same' | 'valid' = 'same') => tf.add(tf.conv2d(x, l.w as tf.Tensor4D, l.stride, pad), l.b) as tf.Tensor4D;
const c = 16, d = discChannels;
// The last layer starts near zero: the refiner begins as the identity.
const refinerLayers = [layer(3, 3, c), layer(3, c, c), layer(3, c, c), layer(1, c, 3, 1, 0.01)];
const discLayers = [layer(3, 3, d, 2), layer(3, d, 2 * d, 2), layer(3, 2 * d, 2 * d), layer(1, 2 * d, 1)];
const vars = (ls: Layer[]) => ls.flatMap((l) => [l.w, l.b]);

/** The refined centre of `x`: REACH px narrower on every side. */
function refine(x: tf.Tensor4D): tf.Tensor4D {
  let h = x;
  for (const l of refinerLayers.slice(0, -1)) h = tf.relu(apply(l, h, 'valid'));
  const [, H, W] = x.shape;
  return tf.add(tf.slice(x, [0, REACH, REACH, 0], [-1, H - 2 * REACH, W - 2 * REACH, -1]), apply(refinerLayers.at(-1)!, h, 'valid'));
}
/** The centre of a crop of the size the refiner takes. */
const centre = (x: tf.Tensor4D) => tf.slice(x, [0, REACH, REACH, 0], [-1, crop, crop, -1]);
function discriminate(x: tf.Tensor4D): tf.Tensor4D {
  let h = tf.mul(tf.sub(tf.add(x, tf.randomUniform(x.shape, -0.5 / 255, 0.5 / 255)), 0.5), 2) as tf.Tensor4D;
  for (const l of discLayers.slice(0, -1)) h = tf.leakyRelu(apply(l, h), 0.2);
  return apply(discLayers.at(-1)!, h);
}
const bce = (logits: tf.Tensor, label: number) => tf.losses.sigmoidCrossEntropy(tf.fill(logits.shape, label), logits);

if (weightsFile) {
  const saved = JSON.parse(await readFile(weightsFile, 'utf8')) as RefinerLayer[];
  checkRefiner(saved, `--weights ${weightsFile}`);
  saved.forEach((l, k) => { refinerLayers[k]!.w.assign(tf.tensor(l.w, l.shape)); refinerLayers[k]!.b.assign(tf.tensor1d(l.b)); });
}
const real = weightsFile ? [] : await trainTileImages(await loadDataset(resolve(flag('--real'))));
console.log(`real ${real.length} tiles, synthetic ${synth.length}${weightsFile ? `; refiner from ${weightsFile}` : ''}`);
const discOpt = tf.train.adam(lr, 0.5), refOpt = tf.train.adam(lr, 0.5);
const t0 = performance.now();
const sums = { disc: 0, ref: 0, change: 0, acc: 0 };
for (let s = 1; s <= (weightsFile ? 0 : steps); s++) {
  const xr = crops(real, batch, crop), xs = crops(synth, batch, crop + 2 * REACH);
  const refined = tf.tidy(() => refine(xs));
  const dl = discOpt.minimize(() => tf.add(bce(discriminate(xr), 1), bce(discriminate(refined), 0)) as tf.Scalar, true, vars(discLayers))!;
  sums.disc += dl.dataSync()[0]!;
  let change = 0;
  const rl = refOpt.minimize(() => {
    const y = refine(xs);
    const l1 = tf.mean(tf.abs(tf.sub(y, centre(xs))));
    change = l1.dataSync()[0]!;
    return tf.add(bce(discriminate(y), 1), tf.mul(l1, l1Weight)) as tf.Scalar;
  }, true, vars(refinerLayers))!;
  sums.ref += rl.dataSync()[0]!;
  sums.change += change;
  // The discriminator's per-location accuracy on this batch (before the refiner's update).
  sums.acc += tf.tidy(() => (tf.mean(tf.cast(tf.greater(discriminate(xr), 0), 'float32')).dataSync()[0]! + tf.mean(tf.cast(tf.less(discriminate(refined), 0), 'float32')).dataSync()[0]!) / 2);
  tf.dispose([xr, xs, refined, dl, rl]);
  if (s % 50 === 0) {
    console.log(`step ${s}: discriminator loss ${(sums.disc / 50).toFixed(3)}, per-location accuracy ${(sums.acc / 50 * 100).toFixed(1)}%; refiner loss ${(sums.ref / 50).toFixed(3)}, mean change ${(sums.change / 50 * 255).toFixed(2)} grey levels (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    Object.assign(sums, { disc: 0, ref: 0, change: 0, acc: 0 });
  }
}

// The refined dataset: every file of the synthetic one, the tiles refined as the generator does.
const trained: RefinerLayer[] = refinerLayers.map((l) => ({ shape: l.w.shape, w: Array.from(l.w.dataSync()), b: Array.from(l.b.dataSync()) }));
await cp(synthDir, out, { recursive: true, filter: (src) => src !== join(synthDir, 'train') });
await mkdir(join(out, 'train'), { recursive: true });
for (const { id, img } of synth) {
  await writeFile(join(out, 'train', `${id}.tif`), await encodeTiff({ width: TILE, height: TILE, data: refineTile(img.data, TILE, TILE, trained) }));
}
await writeFile(join(out, 'refiner.json'), JSON.stringify(trained));
console.log(`refined ${synth.length} tiles into ${out} (${((performance.now() - t0) / 1000).toFixed(0)} s); measure: npm run bench:realism -- --real DIR --synthetic ${out}`);
