import { writeDatasetFiles, writeTileImage } from '../../src/data/dataset.ts';
import type { RgbImage } from '../../src/data/images.ts';
import type { Annotation, TileLabels, TileMeta } from '../../src/data/types.ts';

export function square(x: number, y: number, size: number, type: Annotation['type'] = 'blood_vessel'): Annotation {
  return { type, coordinates: [[[x, y], [x + size, y], [x + size, y + size], [x, y + size]]] };
}

export function flatImage(width = 512, height = 512, rgb: [number, number, number] = [200, 120, 180]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, p * 3);
  return { width, height, data };
}

/** A small, valid dataset in the Kaggle layout: two WSIs, three labelled tiles and one unlabelled. */
export async function writeSmallDataset(dir: string): Promise<{ tiles: TileMeta[]; labels: TileLabels[] }> {
  const tiles: TileMeta[] = [
    { id: 'aaaaaaaaaaa1', sourceWsi: 1, dataset: 1, i: 0, j: 0 },
    { id: 'aaaaaaaaaaa2', sourceWsi: 1, dataset: 1, i: 512, j: 0 },
    { id: 'bbbbbbbbbbb1', sourceWsi: 2, dataset: 2, i: 1024, j: 512 },
    { id: 'ccccccccccc1', sourceWsi: 6, dataset: 3, i: 0, j: 512 },
  ];
  const labels: TileLabels[] = [
    { id: 'aaaaaaaaaaa1', annotations: [square(10, 10, 20), square(100, 100, 40), square(300, 300, 100, 'glomerulus')] },
    { id: 'aaaaaaaaaaa2', annotations: [square(50, 60, 10), square(200, 10, 30, 'unsure')] },
    { id: 'bbbbbbbbbbb1', annotations: [square(5, 5, 30), square(5, 5, 30), square(400, 400, 50)] },
  ];
  await writeDatasetFiles(dir, {
    tiles,
    wsis: [{ sourceWsi: 1, fields: { age: '58', sex: 'F' } }, { sourceWsi: 2, fields: { age: '56', sex: 'F' } }],
    labels,
  });
  for (const t of tiles) await writeTileImage(dir, t.id, flatImage());
  return { tiles, labels };
}
