import { tf } from '../engine/backend.ts';
import { outputArrays } from '../infer/runtime.ts';
import { modelInput, type TfModel } from '../model/tfjs.ts';
import { decodeDetections, detectionMasks } from '../infer/decode.ts';
import { groundTruthTile, type GroundTruthTile } from '../eval/groundtruth.ts';
import { evaluateCoco, evaluateOid } from '../eval/metric.ts';
import type { Detection } from '../eval/submission.ts';
import { TILE_SIZE } from '../data/types.ts';
import type { TrainTile } from './data.ts';

export interface ValidationResult {
  ap60: number;
  cocoAp: number;
  detections: number;
}

/**
 * Score a model on tiles with the competition's metric (AP@0.6 for blood_vessel) and COCO
 * mask AP: inference at `imgsz`, decoding with the seed's settings, masks at tile resolution.
 */
export function validate(model: TfModel, tiles: readonly TrainTile[], imgsz: number, batch = 4): ValidationResult {
  const gt = new Map<string, GroundTruthTile>();
  const preds = new Map<string, Detection[]>();
  for (const t of tiles) gt.set(t.id, groundTruthTile(t.id, t.annotations));
  let count = 0;
  for (let start = 0; start < tiles.length; start += batch) {
    const part = tiles.slice(start, start + batch);
    const pixels = new Float32Array(part.length * TILE_SIZE * TILE_SIZE * 3);
    part.forEach((t, k) => { for (let p = 0; p < TILE_SIZE * TILE_SIZE * 3; p++) pixels[k * TILE_SIZE * TILE_SIZE * 3 + p] = t.image.data[p]! / 255; });
    const input = modelInput(pixels, part.length, imgsz);
    const out = model.predict(input);
    const raw = outputArrays(out);
    tf.dispose([input, ...out.heads, out.proto]);
    const dets = decodeDetections(raw, model.config, { conf: 0.001, iou: 0.55, classes: [0] });
    part.forEach((t, k) => {
      const vessels = dets[k]!.filter((d) => d.cls === 0);
      const masks = detectionMasks(vessels, raw.proto, k, imgsz, TILE_SIZE, TILE_SIZE);
      preds.set(t.id, vessels.map((d, j) => ({ score: d.score, rle: masks[j]! })));
      count += vessels.length;
    });
  }
  return { ap60: evaluateOid(gt, preds).ap, cocoAp: evaluateCoco(gt, preds).ap, detections: count };
}
