/**
 * Official YOLOv7-seg weights into our model: `.pt` / `.pth` (torch.save: a train.py checkpoint
 * or a state dict) and `.safetensors`, read in TypeScript without Python.
 */
import { statSync } from 'node:fs';
import { readSafetensors } from './formats/safetensors.ts';
import { readTorchCheckpoint } from './formats/torch.ts';
import type { NamedArrays } from './formats/tensors.ts';
import { importOfficial } from './official.ts';
import { assignWeights, TfModel, weightArrays } from './tfjs.ts';
import { buildYolov7Seg, modelConfig } from './yolov7seg.ts';

/** The image size official weights were trained at (yolov7-seg.pt: COCO at 640), their default for predict. */
export const OFFICIAL_IMGSZ = 640;

/** Whether a path names an official weight file (by its ending) rather than one of our checkpoint directories. */
export function isOfficialWeights(path: string): boolean {
  if (!/\.(pt|pth|safetensors)$/i.test(path)) return false;
  return !statSync(path, { throwIfNoEntry: false })?.isDirectory();
}

export async function readOfficialWeights(file: string): Promise<{ tensors: NamedArrays; source: string }> {
  if (/\.safetensors$/i.test(file)) return { tensors: await readSafetensors(file), source: 'safetensors' };
  const t = await readTorchCheckpoint(file);
  return { tensors: t.tensors, source: `${t.source}, ${t.dtypes.filter((d) => d !== 'Long').join('/')}` };
}

/**
 * The model size a file holds, from the official P5 head conv (1024 x width channels):
 * `full` at width 1, else `w<width>`.
 */
export function officialModelSize(tensors: NamedArrays, file: string): string {
  const rep5 = tensors.get('model.104.conv.weight');
  if (!rep5) throw new Error(`${file}: no model.104.conv.weight: not a YOLOv7-seg checkpoint (models/segment/yolov7-seg.yaml)`);
  const width = rep5.shape[0]! / 1024;
  return width === 1 ? 'full' : `w${width}`;
}

/** Load official weights into `model` (built for the same width); returns the log lines. */
export async function initFromOfficial(model: TfModel, file: string): Promise<string[]> {
  const { tensors, source } = await readOfficialWeights(file);
  return applyOfficial(model, tensors, source, file);
}

/** A new model of the file's size (or `size`), holding the file's weights; read once. */
export async function officialModel(file: string, classes: string[], size?: string): Promise<{ model: TfModel; log: string[] }> {
  const { tensors, source } = await readOfficialWeights(file);
  const config = modelConfig(size ?? officialModelSize(tensors, file), classes);
  const model = new TfModel(buildYolov7Seg(config), config, 0);
  try {
    return { model, log: applyOfficial(model, tensors, source, file) };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

function applyOfficial(model: TfModel, tensors: NamedArrays, source: string, file: string): string[] {
  const size = officialModelSize(tensors, file);
  const theirs = modelConfig(size, model.config.classes);
  if (theirs.width !== model.config.width || theirs.depth !== model.config.depth) {
    throw new Error(`${file}: a YOLOv7-seg of width ${theirs.width} (--model ${size}); this run builds --model ${model.config.size} (width ${model.config.width}): give --model ${size}`);
  }
  if (model.graph.padding !== 'symmetric') throw new Error(`${file}: official weights need PyTorch's symmetric padding; this model pads 'same' (an old checkpoint's config)`);
  const { weights, report } = importOfficial(tensors, model.graph, model.config, weightArrays(model), file);
  assignWeights(model, weights);
  return [`init: ${file} (${source}): ${report.used} tensors; ${report.classRows}; ImplicitA folded into the head biases, ImplicitM dropped (the official segmentation forward does not apply it)`];
}
