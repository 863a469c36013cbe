import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IssueCollector } from '../data/errors.ts';
import { parsePolygons } from '../data/polygons.ts';
import { parseTileMeta, parseWsiMeta } from '../data/csv.ts';
import { rasterize } from '../data/rasterize.ts';
import { FILES, writeDatasetFiles, writeTileImage } from '../data/dataset.ts';
import { TILE_SIZE, type TileLabels } from '../data/types.ts';
import type { RgbImage } from '../data/images.ts';
import { mulberry32 } from '../util/stats.ts';
import { writeDirAtomic } from '../util/atomic.ts';
import { assertReplaceable } from '../util/fs.ts';

/** The real competition material shipped in `assets/reference/` (see its README). */
export const REFERENCE_DIR = fileURLToPath(new URL('../../assets/reference/', import.meta.url));

export async function readReferenceMaterial(): Promise<{
  tileMeta: string; wsiMeta: string; vessels: TileLabels[];
}> {
  const [tileMeta, wsiMeta, polygons] = await Promise.all(
    ['tile_meta.csv', 'wsi_meta.csv', 'dataset1_vessels_85tiles.jsonl'].map((f) => readFile(REFERENCE_DIR + f, 'utf8')),
  );
  const strict = new IssueCollector(true);
  return { tileMeta: tileMeta!, wsiMeta: wsiMeta!, vessels: parsePolygons(polygons!, REFERENCE_DIR + 'dataset1_vessels_85tiles.jsonl', strict).tiles };
}

/**
 * A stand-in image for a labelled tile whose real image is not available: PAS-like magenta
 * texture with the labelled vessels painted as pale lumens inside a darker rim. Good enough
 * to exercise image decoding and drawing; the synthetic generator (`synth/`) makes real-looking tissue.
 */
export function paintTile(labels: TileLabels, seed: number): RgbImage {
  const random = mulberry32(seed);
  const data = new Uint8Array(TILE_SIZE * TILE_SIZE * 3);
  const base = [200, 130, 190];
  for (let p = 0; p < TILE_SIZE * TILE_SIZE; p++) {
    const n = (random() - 0.5) * 40;
    for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.max(0, Math.min(255, base[c]! + n));
  }
  for (const a of labels.annotations) {
    const mask = rasterize(a.coordinates, TILE_SIZE, TILE_SIZE);
    for (let p = 0; p < mask.length; p++) {
      if (!mask[p]) continue;
      const x = p % TILE_SIZE;
      const y = (p - x) / TILE_SIZE;
      const rim = x === 0 || y === 0 || x === TILE_SIZE - 1 || y === TILE_SIZE - 1 ||
        !mask[p - 1] || !mask[p + 1] || !mask[p - TILE_SIZE] || !mask[p + TILE_SIZE];
      const colour = rim ? [120, 40, 110] : [240, 225, 235];
      for (let c = 0; c < 3; c++) data[p * 3 + c] = colour[c]!;
    }
  }
  return { width: TILE_SIZE, height: TILE_SIZE, data };
}

/** Marks a directory as `data reference` output, so a rerun may replace it. */
const REFERENCE_MARKER = 'reference.json';

/**
 * Write the reference dataset: the real `tile_meta.csv` (all 7,033 tiles) and `wsi_meta.csv`,
 * the 85 real expert-labelled tiles as `polygons.jsonl`, and painted images for those 85.
 * Written atomically: the directory appears complete or not at all.
 */
export async function buildReferenceDataset(out: string, onTile?: (done: number, total: number) => void): Promise<void> {
  const material = await readReferenceMaterial();
  const issues = new IssueCollector(true);
  const tiles = parseTileMeta(material.tileMeta, 'tile_meta.csv', issues);
  const wsis = parseWsiMeta(material.wsiMeta, 'wsi_meta.csv', issues);
  await assertReplaceable(out, REFERENCE_MARKER, [FILES.train, FILES.tileMeta, FILES.wsiMeta, FILES.polygons, FILES.folds]);
  await writeDirAtomic(out, async (dir) => {
    await writeDatasetFiles(dir, { tiles, wsis, labels: material.vessels });
    await writeFile(join(dir, REFERENCE_MARKER), JSON.stringify({ written_by: 'vascseg data reference', source: 'assets/reference/' }, null, 2));
    let done = 0;
    for (const [k, t] of material.vessels.entries()) {
      await writeTileImage(dir, t.id, paintTile(t, k + 1));
      onTile?.(++done, material.vessels.length);
    }
  });
}
