import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../engine/backend.ts';
import { writeDirAtomic } from '../util/atomic.ts';
import { buildYolov7Seg, type ModelConfig } from './yolov7seg.ts';
import { TfModel } from './tfjs.ts';

/**
 * A checkpoint is a directory in tfjs conventions: `model.json` (a weights manifest plus our
 * metadata under `vascseg`) and `weights.bin`. Training state for resume (optimiser, EMA,
 * epoch) rides along as extra named tensors and metadata fields.
 */
export const CHECKPOINT_FORMAT = 'vascseg-yolov7-seg/1';

export interface CheckpointMeta {
  format: string;
  config: ModelConfig;
  imgsz: number;
  epoch: number;
  metrics: Record<string, number>;
  /** Anything else a trainer needs to resume (optimiser hyper-parameters, step counters). */
  state?: Record<string, unknown>;
}

export class CheckpointError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/** Save model weights (and optional extra tensors, e.g. optimiser slots) atomically. */
export async function saveCheckpoint(dir: string, model: TfModel, meta: Omit<CheckpointMeta, 'format' | 'config'>, extra: Map<string, tf.Tensor> = new Map()): Promise<void> {
  const named: tf.NamedTensorMap = {};
  for (const [name, v] of model.weights) named[name] = v;
  for (const [name, t] of extra) named[`extra/${name}`] = t;
  const { data, specs } = await tf.io.encodeWeights(named);
  const manifest = {
    format: 'layers-model',
    generatedBy: 'vascseg',
    vascseg: { format: CHECKPOINT_FORMAT, config: model.config, ...meta },
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
  };
  await writeDirAtomic(dir, async (tmp) => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(tmp, 'weights.bin'), new Uint8Array(data));
    await writeFile(join(tmp, 'model.json'), JSON.stringify(manifest, null, 1));
  });
}

export interface LoadedCheckpoint {
  model: TfModel;
  meta: CheckpointMeta;
  extra: Map<string, tf.Tensor>;
}

/** Only a checkpoint's metadata (config, epoch, metrics), without its weights. */
export async function readCheckpointMeta(dir: string): Promise<CheckpointMeta> {
  const jsonPath = join(dir, 'model.json');
  let manifest: { vascseg?: CheckpointMeta };
  try {
    manifest = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOTDIR') throw new CheckpointError(dir, 'is a file, not a checkpoint directory (model.json + weights.bin); official weights (.pt, .safetensors) are read by name, an exported model must end in .onnx');
    throw new CheckpointError(jsonPath, e.code === 'ENOENT' ? 'checkpoint not found (expected a directory with model.json and weights.bin)' : `not valid JSON: ${e.message}`);
  }
  const meta = manifest.vascseg;
  if (!meta || meta.format !== CHECKPOINT_FORMAT) throw new CheckpointError(jsonPath, `not a vascseg checkpoint (format ${JSON.stringify(meta?.format)}, expected ${CHECKPOINT_FORMAT})`);
  return meta;
}

/** Load a checkpoint directory; every problem is an error naming the file. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const jsonPath = join(dir, 'model.json');
  const binPath = join(dir, 'weights.bin');
  const meta = await readCheckpointMeta(dir);
  const manifest = JSON.parse(await readFile(jsonPath, 'utf8')) as { weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const specs = manifest.weightsManifest?.[0]?.weights;
  if (!specs) throw new CheckpointError(jsonPath, 'has no weightsManifest');
  let bin: Buffer;
  try {
    bin = await readFile(binPath);
  } catch {
    throw new CheckpointError(binPath, 'weights file missing');
  }
  const expected = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (bin.length !== expected) throw new CheckpointError(binPath, `has ${bin.length} bytes, the manifest describes ${expected} (truncated or corrupt)`);
  const tensors = tf.io.decodeWeights(new Uint8Array(bin).buffer, specs);
  const model = new TfModel(buildYolov7Seg(meta.config), meta.config);
  for (const [name, v] of model.weights) {
    const t = tensors[name];
    if (!t) throw new CheckpointError(binPath, `weight ${name} missing: the checkpoint is of another architecture`);
    if (t.shape.join('x') !== v.shape.join('x')) throw new CheckpointError(binPath, `weight ${name} has shape ${t.shape.join('x')}, the model needs ${v.shape.join('x')}`);
    v.assign(t);
    t.dispose();
  }
  const extra = new Map<string, tf.Tensor>();
  for (const [name, t] of Object.entries(tensors)) if (name.startsWith('extra/')) extra.set(name.slice(6), t);
  return { model, meta, extra };
}
