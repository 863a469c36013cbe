import { readTextFile } from '../util/fs.ts';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * One config for the whole seed flow. Every number the seed gives is a default of the `seed`
 * preset; `demo` shrinks sizes and epochs to run on two CPU cores in minutes.
 */
const trainStage = z.object({
  epochs: z.number().int().min(1),
}).strict();

const predictSettings = z.object({
  conf: z.number().min(0).max(1).default(0.001),
  iou: z.number().gt(0).max(1).default(0.55),
  maxDet: z.number().int().min(1).default(300),
  tta: z.enum(['none', 'flip']).default('none'),
  ensemble: z.enum(['nms', 'wsf']).default('nms'),
  post: z.enum(['lcc', 'none']).default('lcc'),
  dilate: z.number().int().min(0).default(0),
  context: z.number().int().min(0).max(512).default(0),
}).strict();

export const pipelineSchema = z.object({
  /** Model size (`tiny`, `small`, `full`, or `w<width multiple>`) and training image size. */
  model: z.string().default('tiny'),
  /**
   * Weights the stages that would start from scratch start from instead (pretrain-ds2, and
   * the pseudo pretraining when its init is scratch): official YOLOv7-seg weights (`.pt`,
   * `.safetensors`, e.g. the released COCO `yolov7-seg.pt` with model `full`) or a checkpoint.
   */
  init: z.string().optional(),
  imgsz: z.number().int().min(32).multipleOf(32).default(640),
  batch: z.number().int().min(1).default(4),
  optimizer: z.enum(['sgd', 'adamw']).default('sgd'),
  lr0: z.number().gt(0).default(0.01),
  /** Folds of dataset 1 (k) and their seed. */
  folds: z.number().int().min(2).default(5),
  foldSeed: z.number().int().default(0),
  seed: z.number().int().default(0),
  pretrainDs2: trainStage.default({ epochs: 100 }),
  finetune: trainStage.default({ epochs: 100 }),
  pretrainPseudo: z.object({
    epochs: z.number().int().min(1),
    /** Start from scratch (the seed) or from pretrain-ds2's weights. */
    init: z.enum(['scratch', 'pretrain-ds2']).default('scratch'),
  }).strict().default({ epochs: 100 }),
  pseudo: z.object({
    /** Keep instances above this confidence... */
    conf: z.number().min(0).max(1).default(0.5),
    /** ...on tiles whose mean kept confidence is above this. */
    tileConf: z.number().min(0).max(1).default(0.6),
    /** Datasets to pseudo-label (2: non-expert, 3: unlabelled). */
    datasets: z.array(z.number().int()).nonempty().default([2, 3]),
    /** Pseudo-label rounds (the seed found a second did not help). */
    rounds: z.number().int().min(0).default(1),
  }).strict().default({}),
  /** Which folds of the last fine-tuning form the final ensemble (the seed: 0, 1 and 4). */
  ensembleFolds: z.array(z.number().int().min(0)).nonempty().default([0, 1, 4]),
  predict: predictSettings.default({}),
  /** Precise-BN batches and validation interval of every training job. */
  preciseBn: z.number().int().min(0).default(0),
}).strict().superRefine((c, ctx) => {
  const bad = c.ensembleFolds.filter((f) => f >= c.folds);
  if (bad.length > 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['ensembleFolds'], message: `fold ${bad.join(', ')} does not exist with folds: ${c.folds}` });
});

export type PipelineConfig = z.infer<typeof pipelineSchema>;
export type PipelineConfigInput = z.input<typeof pipelineSchema>;

/**
 * `seed`: the gold-medal method's numbers (640 px, 100 epochs per stage, 5 folds, folds 0/1/4
 * ensembled, pseudo labels at 0.5 / 0.6). `demo`: the same flow sized for the synthetic demo
 * dataset on 2 CPU cores (256 px, the tiny model, 3 folds, 25/20/20 epochs), with the pseudo
 * pretraining continuing from pretrain-ds2 instead of starting from scratch.
 */
export const PIPELINE_PRESETS: Record<'seed' | 'demo', PipelineConfigInput> = {
  seed: {},
  demo: {
    imgsz: 256,
    batch: 4,
    optimizer: 'adamw',
    lr0: 0.003,
    folds: 3,
    ensembleFolds: [0, 1, 2],
    pretrainDs2: { epochs: 25 },
    finetune: { epochs: 20 },
    // On 174 tiles, pretraining on 57 pseudo-labelled tiles from scratch loses to the 74 noisy
    // dataset-2 tiles; continuing from pretrain-ds2 gains (README, both tables measured).
    pretrainPseudo: { epochs: 20, init: 'pretrain-ds2' },
  },
};

export type PresetName = keyof typeof PIPELINE_PRESETS;

function formatZodIssues(file: string, error: z.ZodError): string {
  return error.issues.map((i) => `${file}: ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

export function resolveConfig(input: unknown, source: string): PipelineConfig {
  const r = pipelineSchema.safeParse(input ?? {});
  if (!r.success) throw new Error(formatZodIssues(source, r.error));
  return r.data;
}

/** Read a JSON or YAML config; with `preset`, the file's keys override the preset's. */
export async function loadPipelineConfig(file: string | undefined, preset: PresetName): Promise<PipelineConfig> {
  const base = PIPELINE_PRESETS[preset];
  if (!file) return resolveConfig(base, `preset ${preset}`);
  const text = await readTextFile(file, 'a pipeline config file (JSON or YAML)');
  let parsed: unknown;
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new Error(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error(`${file}: expected a mapping of settings at the top level`);
  return resolveConfig(mergeSettings(base, parsed), file);
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The file's settings over the preset's, nested mappings merged key by key: a file that sets
 * `pretrainPseudo: { epochs: 5 }` keeps the preset's `pretrainPseudo.init`. Lists and values
 * replace.
 */
export function mergeSettings(base: unknown, over: unknown): unknown {
  if (!isMapping(base) || !isMapping(over)) return over === undefined || over === null ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeSettings(base[k], v);
  return out;
}
