import { readTileImage, type Dataset } from '../src/data/dataset.ts';
import type { RgbImage } from '../src/data/images.ts';

/** Every tile of `ds` that has a train image, read, in tile_meta order (the realism benches' two sides). */
export async function trainTileImages(ds: Dataset): Promise<{ id: string; img: RgbImage }[]> {
  const list: { id: string; img: RgbImage }[] = [];
  for (const t of ds.tiles) if (ds.images.train.has(t.id)) list.push({ id: t.id, img: await readTileImage(ds, t.id) });
  return list;
}
