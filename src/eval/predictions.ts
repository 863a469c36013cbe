import { readTextFile } from '../util/fs.ts';
import { DatasetError } from '../data/errors.ts';
import { fromCocoResults } from './export.ts';
import { parseSubmission, type TilePredictions } from './submission.ts';

/**
 * Read predictions from a Kaggle submission CSV or a COCO results JSON (by extension).
 * The first problem stops the read with an error naming the row.
 */
export async function readPredictions(file: string): Promise<TilePredictions[]> {
  const text = await readTextFile(file, 'a predictions file (Kaggle submission CSV or COCO results JSON)');
  if (/\.json$/i.test(file)) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new DatasetError([{ file, message: `not valid JSON: ${(err as Error).message}` }]);
    }
    return fromCocoResults(json, file);
  }
  const { tiles, issues } = parseSubmission(text, file);
  if (issues.length > 0) throw new DatasetError(issues);
  return tiles;
}
