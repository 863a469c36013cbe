import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBatch, NO_AUGMENT, DEFAULT_AUGMENT, MOSAIC_VIEWS, type TrainTile } from '../../src/train/data.ts';
import { stainJitter, stitchCrop } from '../../src/train/augment.ts';
import { computeLoss, defaultHyp } from '../../src/train/loss.ts';
import { setupBackend, tf } from '../../src/engine/backend.ts';
import { buildYolov7Seg, modelConfig } from '../../src/model/yolov7seg.ts';
import { TfModel } from '../../src/model/tfjs.ts';
import { rasterize } from '../../src/data/rasterize.ts';
import { Rng } from '../../src/util/random.ts';
import type { Annotation } from '../../src/data/types.ts';

/** A tile whose image is white exactly where its vessels are: augmentations must keep that true. */
function whiteWhereLabelled(id: string, annotations: Annotation[]): TrainTile {
  const data = new Uint8Array(512 * 512 * 3);
  for (const a of annotations) rasterize(a.coordinates, 512, 512).forEach((v, p) => { if (v) data.fill(255, p * 3, p * 3 + 3); });
  return { id, image: { width: 512, height: 512, data }, annotations };
}
const box = (x: number, y: number, w: number, h: number): Annotation => ({ type: 'blood_vessel', coordinates: [[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]] });
const tiles = [
  whiteWhereLabelled('a', [box(40, 60, 50, 30), box(300, 380, 80, 60), box(450, 10, 55, 40)]),
  whiteWhereLabelled('b', [box(200, 200, 40, 90), box(0, 480, 70, 31)]),
];

for (const mosaicView of MOSAIC_VIEWS) test(`every augmentation moves pixels and labels together (${mosaicView} mosaics): masks and boxes cover the white pixels`, () => {
  const rng = new Rng(4);
  const strong = { ...DEFAULT_AUGMENT, mosaic: 0.7, scale: 0.4, translate: 0.2, flipud: 0.5, rot90: 0.5, stain: 0, hsvV: 0, hsvS: 0, mosaicView };
  let checked = 0, whiteAll = 0, insideAll = 0, maskWhite = 0, maskAll = 0;
  for (let trial = 0; trial < 12; trial++) {
    const batch = makeBatch(tiles, 128, strong, rng, tiles);
    batch.targets.forEach((t, k) => {
      const img = batch.images.subarray(t.image * 512 * 512 * 3, (t.image + 1) * 512 * 512 * 3);
      // Inside the box, the white pixels are where the label is.
      const [cx, cy, w, h] = t.box;
      let white = 0, inside = 0;
      for (let y = Math.ceil((cy - h / 2) * 512); y < (cy + h / 2) * 512; y++) for (let x = Math.ceil((cx - w / 2) * 512); x < (cx + w / 2) * 512; x++) {
        inside++;
        if (img[(y * 512 + x) * 3]! > 0.5) white++;
      }
      // Bilinear resampling blurs a rim of about a pixel that polygon rounding does not, so thin
      // slivers cut at a mosaic edge can be half rim: a bound per substantial box, and a tight
      // one over all of them (a misplaced transform scores ~0.45 here, the fill grey).
      if (inside >= 400) assert.ok(white / inside > 0.6, `trial ${trial} target ${k}: ${white}/${inside} white inside its box`);
      whiteAll += white;
      insideAll += inside;
      // The prototype-resolution mask sits on white pixels too.
      // At prototype resolution (4 px cells, rounded vertices) small pieces miss by a cell at their rim.
      let onWhite = 0, maskPx = 0;
      batch.masks[k]!.forEach((v, p) => {
        if (!v) return;
        maskPx++;
        const x = (p % 128) * 4 + 2, y = Math.floor(p / 128) * 4 + 2;
        if (img[(y * 512 + x) * 3]! > 0.5) onWhite++;
      });
      if (maskPx >= 30) assert.ok(onWhite / maskPx > 0.55, `trial ${trial} target ${k}: mask ${onWhite}/${maskPx} on white`);
      maskWhite += onWhite;
      maskAll += maskPx;
      checked++;
    });
  }
  assert.ok(checked > 40, `${checked} targets checked`);
  assert.ok(whiteAll / insideAll > 0.9, `${whiteAll}/${insideAll} of all box pixels white`);
  assert.ok(maskWhite / maskAll > 0.85, `${maskWhite}/${maskAll} of all mask cells on white`);
});

test('the canvas mosaic zooms out onto tissue, the crop mosaic onto grey border', () => {
  // Tiles of one colour (200) with nothing labelled: what is not 200 is the fill grey (114).
  const plain: TrainTile[] = ['p', 'q', 'r', 's'].map((id) => ({ id, image: { width: 512, height: 512, data: new Uint8Array(512 * 512 * 3).fill(200) }, annotations: [] }));
  const greyShare = (mosaicView: 'canvas' | 'crop') => {
    const rng = new Rng(9);
    let grey = 0, all = 0;
    for (let trial = 0; trial < 8; trial++) {
      const batch = makeBatch(plain, 128, { ...NO_AUGMENT, mosaic: 1, scale: 0.5, translate: 0.1, mosaicView }, rng, plain);
      for (let p = 0; p < batch.images.length; p += 3 * 7) { all++; if (Math.abs(batch.images[p]! * 255 - 114) < 1) grey++; }
    }
    return grey / all;
  };
  const canvas = greyShare('canvas'), crop = greyShare('crop');
  // Zoomed out by up to 2x, a tile-sized crop leaves up to 3/4 of the frame grey; the 2x canvas
  // is grey only where no tile reaches past the random centre.
  assert.ok(crop > 0.15, `crop: ${crop} grey`);
  assert.ok(canvas < crop / 2, `canvas: ${canvas} grey, crop ${crop}`);
});

test('no augmentation: the tile as it is, boxes from the polygons', () => {
  const batch = makeBatch(tiles.slice(0, 1), 128, NO_AUGMENT, new Rng(1));
  // Corners (x1, y1, x2, y2): fillPoly includes the boundary, so a box from 40 to 90 covers 40..90 inclusive.
  const corners = batch.targets.map(({ box: [cx, cy, w, h] }) => [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2].map((v) => Math.round(v * 512)));
  assert.deepEqual(corners, [[40, 60, 91, 91], [300, 380, 381, 441], [450, 10, 506, 51]]);
  assert.equal(batch.images[(70 * 512 + 50) * 3], 1);
  assert.equal(batch.images[0], 0);
});

test('stain jitter changes colour, keeps labels, and sigma 0 is the identity', () => {
  const px = new Float32Array(512 * 512 * 3).map((_, k) => [180, 100, 190][k % 3]!);
  const s = { pixels: px, annotations: tiles[0]!.annotations };
  assert.equal(stainJitter(s, new Rng(1), 0), s);
  const j = stainJitter(s, new Rng(1), 0.2);
  assert.equal(j.annotations, s.annotations);
  assert.notDeepEqual(Array.from(j.pixels.subarray(0, 3)).map(Math.round), [180, 100, 190]);
  assert.ok(j.pixels.every((v) => v >= 0 && v <= 255));
});

test('stitched context: neighbours joined, a vessel cut by the seam labelled whole, unlabelled neighbours ignored', async () => {
  // A vessel crossing the border between the centre tile and its right neighbour, labelled in both halves.
  const left = box(480, 200, 31, 40), right = box(0, 200, 29, 40);
  const centre = whiteWhereLabelled('c', [left, box(100, 100, 30, 30)]);
  const east = whiteWhereLabelled('e', [right]);
  // Pixels only, not labelled for training; painted 7 so its pixels can be told apart.
  const south: TrainTile = { id: 's', image: { width: 512, height: 512, data: new Uint8Array(512 * 512 * 3).fill(7) }, annotations: [box(250, 20, 40, 40)] };
  const n = (t: TrainTile, labelled: boolean) => ({ pixels: t.image.data, annotations: labelled ? t.annotations : null });
  const grid = [[null, null, null], [null, n(centre, true), n(east, true)], [null, n(south, false), null]];
  let whole = 0;
  for (let seed = 0; seed < 20; seed++) {
    const smp = stitchCrop(grid, new Rng(seed));
    // Every label lies on white pixels; ignored pixels are exactly the unlabelled neighbour's.
    for (const a of smp.annotations) {
      const m = rasterize(a.coordinates, 512, 512);
      let white = 0, area = 0;
      m.forEach((v, p) => { if (v) { area++; if (smp.pixels[p * 3]! > 128) white++; } });
      assert.ok(white / area > 0.95, `seed ${seed}: ${white}/${area}`);
      // The seam vessel: 31 + 29 + 2 columns wide when both halves are in view.
      const xs = a.coordinates[0]!.map((p) => p[0]);
      if (Math.max(...xs) - Math.min(...xs) + 1 === 62) whole++;
    }
    let mismatched = 0;
    smp.ignore!.forEach((v, p) => { if ((v === 1) !== (smp.pixels[p * 3] === 7)) mismatched++; });
    assert.equal(mismatched, 0, `seed ${seed}: ignore map differs from the unlabelled neighbour's pixels`);
  }
  assert.ok(whole > 0, 'the vessel across the seam comes out as one polygon');
  // All-ignored images contribute no objectness loss.
  await setupBackend('wasm', { quiet: true });
  const config = modelConfig('tiny');
  const model = new TfModel(buildYolov7Seg(config), config, 1);
  const out = model.forward(tf.randomUniform([1, 64, 64, 3]) as tf.Tensor4D, true);
  const none = computeLoss(out, { targets: [], masks: [], ignore: [new Uint8Array(512 * 512).fill(1)] }, config, defaultHyp(3, 64));
  assert.equal((await none.obj.data())[0], 0);
  const all = computeLoss(out, { targets: [], masks: [], ignore: [null] }, config, defaultHyp(3, 64));
  assert.ok((await all.obj.data())[0]! > 0);
  model.updateRunningStats();
});
