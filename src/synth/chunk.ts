import { join } from 'node:path';
import { encodeTiff } from '../data/images.ts';
import type { Annotation, TileMeta } from '../data/types.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { SynthConfig } from './config.ts';
import { expertLabels, noisyLabels, type NoiseLog } from './labels.ts';
import { Rng } from '../util/random.ts';
import { renderTile } from './render.ts';
import { wsiStain } from './stain.ts';
import { WsiWorld } from './world.ts';
import { pathExists } from '../util/fs.ts';

/** Tiles of one WSI for one worker. */
export interface ChunkJob {
  config: SynthConfig;
  tiles: TileMeta[];
  workDir: string;
}

/** What a rendered tile leaves beside its image: the labels it gets and its true objects. */
export interface TileRecord {
  id: string;
  labels: Annotation[] | null;
  truth: Annotation[];
  noise: NoiseLog | null;
}

export const recordPath = (workDir: string, id: string) => join(workDir, 'records', `${id}.json`);
export const imageFile = (workDir: string, id: string) => join(workDir, 'train', `${id}.tif`);

/** Render and write every tile of the chunk not already finished by an earlier run. */
export async function renderChunk(job: ChunkJob, onTile: (resumed: boolean) => void): Promise<void> {
  const { config, tiles, workDir } = job;
  if (tiles.length === 0) return;
  const wsi = tiles[0]!.sourceWsi;
  const world = new WsiWorld(config.seed, wsi, config.appearance);
  const stain = wsiStain(config.seed, wsi, config.appearance.stainShift * (tiles[0]!.dataset === 3 ? 2 : 1));
  let pending: Promise<void> = Promise.resolve();
  for (const tile of tiles) {
    if (await pathExists(recordPath(workDir, tile.id))) {
      onTile(true);
      continue;
    }
    const rendered = renderTile(world, stain, config.appearance, tile.i, tile.j);
    const truth = expertLabels(rendered.truth);
    let labels: Annotation[] | null = null;
    let noise: NoiseLog | null = null;
    if (tile.dataset === 1) labels = truth;
    if (tile.dataset === 2) {
      noise = { vessels: 0, missed: 0, shrunk: 0, shifted: 0, falseVessels: 0, duplicates: 0 };
      labels = noisyLabels(rendered.truth, rendered.lumens, config.noise, Rng.of(config.seed, wsi, tile.i, tile.j, 4), noise);
    }
    const record: TileRecord = { id: tile.id, labels, truth, noise };
    // Encoding and writing run in libuv's threads while the next tile renders.
    await pending;
    pending = (async () => {
      await writeFileAtomic(imageFile(workDir, tile.id), await encodeTiff(rendered.image));
      // The record last: its presence means the tile is finished.
      await writeFileAtomic(recordPath(workDir, tile.id), JSON.stringify(record));
      onTile(false);
    })();
  }
  await pending;
}
