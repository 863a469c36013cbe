import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { groundTruthTile } from '../../src/eval/groundtruth.ts';
import { simulatePredictions } from '../../src/eval/simulate.ts';
import { formatSubmission, parseSubmission } from '../../src/eval/submission.ts';
import { fromCocoResults, fromGeoJson, fromLabelPng, toCocoResults, toGeoJson, toLabelPng } from '../../src/eval/export.ts';
import { decodeRle, encodeMask, rleArea } from '../../src/eval/rle.ts';
import { largestComponent } from '../../src/data/components.ts';
import type { TileLabels } from '../../src/data/types.ts';

const real = readFileSync(new URL('../../assets/reference/dataset1_vessels_85tiles.jsonl', import.meta.url), 'utf8')
  .trim().split('\n').slice(0, 6).map((l) => JSON.parse(l) as TileLabels);
const gt = real.map((t) => groundTruthTile(t.id, t.annotations));
const preds = simulatePredictions(gt, { seed: 3, perTile: 12 });

test('Kaggle submission CSV round trip keeps every mask and confidence', () => {
  const csv = formatSubmission(preds);
  assert.ok(csv.startsWith('id,height,width,prediction_string\n'));
  const { tiles, issues } = parseSubmission(csv, 'sub.csv');
  assert.deepEqual(issues, []);
  assert.deepEqual(tiles, preds);
});

test('submission problems name the row', () => {
  const good = formatSubmission(preds.slice(0, 1)).trim().split('\n')[1]!;
  const csv = ['id,height,width,prediction_string', good,
    'bad1,512,512,0 1.5 eNoLTDAwyrM3yI/PMwcAE94DZA==',
    'bad2,512,512,0 0.5 AAAA',
    'bad3,512,256,0 0.5 eNoLTDAwyrM3yI/PMwcAE94DZA==',
    'bad4,512,512,0 0.5'].join('\n');
  const { issues } = parseSubmission(csv, 'sub.csv', new Map(['bad1', 'bad2', 'bad3', 'bad4', preds[0]!.id].map((id) => [id, { height: 512, width: 512 }])));
  const text = issues.map((i) => `${i.line} ${i.tileId} ${i.message}`);
  assert.deepEqual(text.map((t) => t.split(' ').slice(0, 2).join(' ')), ['3 bad1', '4 bad2', '5 bad3', '6 bad4']);
  assert.match(text[0]!, /confidence must be a number in \[0, 1\], got "1.5"/);
  assert.match(text[1]!, /mask is not zlib data/);
  assert.match(text[2]!, /size 256x512 does not match the tile's 512x512/);
  assert.match(text[3]!, /2 tokens, not a multiple of 3/);
  const unknown = parseSubmission('id,height,width,prediction_string\nzzz,512,512,\n', 'sub.csv', new Map());
  assert.match(unknown.issues[0]!.message, /not in the dataset/);
});

test('COCO results JSON round trip', () => {
  const json = JSON.parse(JSON.stringify(toCocoResults(preds)));
  assert.equal(json.length, preds.reduce((s, t) => s + t.detections.length, 0));
  assert.deepEqual(Object.keys(json[0]).sort(), ['category_id', 'image_id', 'score', 'segmentation']);
  assert.deepEqual(fromCocoResults(json, 'r.json'), preds.filter((t) => t.detections.length > 0));
});

test('GeoJSON round trip: polygons traced from masks fill back to the same masks', () => {
  // Predicted masks after largest-component post-processing are single components.
  const tile = {
    ...preds[0]!,
    detections: preds[0]!.detections.map((d) => ({ score: d.score, rle: encodeMask(largestComponent(decodeRle(d.rle), 512, 512), 512, 512) })),
  };
  const geo = JSON.parse(JSON.stringify(toGeoJson(tile))) as { type: string; features: { geometry: { type: string; coordinates: number[][][] } }[] };
  assert.equal(geo.type, 'FeatureCollection');
  const ring = geo.features[0]!.geometry.coordinates[0]!;
  assert.deepEqual(ring[0], ring.at(-1), 'rings are closed');
  const back = fromGeoJson(geo, 512, 512);
  assert.equal(back.length, tile.detections.length);
  back.forEach((b, k) => {
    assert.equal(b.score, tile.detections[k]!.score);
    assert.equal(b.className, 'blood_vessel');
    assert.deepEqual(b.rle.counts, tile.detections[k]!.rle.counts, `instance ${k}`);
  });
});

test('instance-label PNG round trip (16-bit; higher confidence on top where masks overlap)', async () => {
  const tile = preds[1]!;
  const png = await toLabelPng(tile);
  const { width, height, masks } = await fromLabelPng(png);
  assert.deepEqual([width, height], [512, 512]);
  assert.ok(masks.length <= tile.detections.length);
  // Every pixel of an instance's read-back mask was in its original mask; area only lost to more confident overlaps.
  masks.forEach((m, k) => {
    const original = decodeRle(tile.detections[k]!.rle);
    const back = decodeRle(m);
    for (let p = 0; p < back.length; p++) if (back[p]) assert.equal(original[p], 1);
    assert.ok(rleArea(m) <= rleArea(tile.detections[k]!.rle));
  });
  const top = tile.detections.reduce((a, b) => (b.score > a.score ? b : a));
  assert.deepEqual(masks[tile.detections.indexOf(top)]!.counts, top.rle.counts);
});
