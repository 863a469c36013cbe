/**
 * docs/synth-vs-real.png: a real tile (with its real labels) beside synthetic tiles of two
 * WSIs with their labels drawn (vessels cyan, unsure orange, glomeruli yellow).
 * Run: npx tsx scripts/synth-figure.ts [out.png]
 */
import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadDataset, readTileImage } from '../src/data/dataset.ts';
import { drawOutlines } from '../src/data/overlay.ts';
import { REFERENCE_DIR } from '../src/reference/build.ts';
import { synthSchema } from '../src/synth/config.ts';
import { generateDataset } from '../src/synth/generate.ts';

const out = process.argv[2] ?? 'docs/synth-vs-real.png';
const work = await mkdtemp(join(tmpdir(), 'synth-figure-'));
const dir = join(work, 'ds');
await generateDataset(synthSchema.parse({ seed: 0, wsis: [{ wsi: 2, dataset1: 4 }, { wsi: 9, dataset3: 4 }] }), dir);
const ds = await loadDataset(dir);
const truth = new Map<string, { type: string; coordinates: [number, number][][] }[]>();
for (const line of (await readFile(join(dir, 'truth', 'polygons.jsonl'), 'utf8')).trim().split('\n')) {
  const t = JSON.parse(line) as { id: string; annotations: { type: string; coordinates: [number, number][][] }[] };
  truth.set(t.id, t.annotations);
}
const pick = (wsi: number) => ds.tiles.filter((t) => t.sourceWsi === wsi).map((t) => t.id)
  .sort((a, b) => (truth.get(b) ?? ds.labels.get(b) ?? []).length - (truth.get(a) ?? ds.labels.get(a) ?? []).length)[0]!;
const panels: Buffer[] = [];
const realRaw = await sharp(REFERENCE_DIR + 'trn_img_0006ff2aa7cd.png').removeAlpha().raw().toBuffer();
panels.push(await sharp(realRaw, { raw: { width: 512, height: 512, channels: 3 } }).png().toBuffer());
for (const id of [pick(2), pick(9)]) {
  const img = await readTileImage(ds, id);
  panels.push(await sharp(Buffer.from(img.data), { raw: { width: 512, height: 512, channels: 3 } }).png().toBuffer());
  const labelled = drawOutlines(img, (ds.labels.get(id) ?? truth.get(id) ?? []) as never);
  panels.push(await sharp(Buffer.from(labelled.data), { raw: { width: 512, height: 512, channels: 3 } }).png().toBuffer());
}
const gap = 8;
await sharp({ create: { width: 5 * 512 + 4 * gap, height: 512, channels: 3, background: '#ffffff' } })
  .composite(panels.map((input, k) => ({ input, left: k * (512 + gap), top: 0 })))
  .png().toFile(out);
await rm(work, { recursive: true, force: true });
console.log(`wrote ${out}: real tile (WSI 2) | synthetic WSI 2 tile, with labels | synthetic WSI 9 (dataset 3 stain) tile, with true labels`);
