import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import type { CheckpointMeta } from '../model/checkpoint.ts';
import type { Graph, Padding } from '../model/graph.ts';
import { BN_EPS } from '../model/tfjs.ts';
import { outputsPerAnchor, type ModelConfig } from '../model/yolov7seg.ts';
import { OnnxBuilder, type Dim } from './builder.ts';
import { hwioToOihw } from '../model/layout.ts';
import { ONNX_INPUT, ONNX_OUTPUTS } from './names.ts';

const { onnx } = onnxProto;

/** What a reader of an exported model needs to decode its outputs, stored in the model's metadata. */
export interface OnnxModelInfo {
  format: 'vascseg-yolov7-seg-onnx/1';
  config: ModelConfig;
  /** The image size the model was trained at (the input itself is dynamic: any multiple of 32). */
  imgsz: number;
  epoch: number;
  metrics: Record<string, number>;
}

export { ONNX_INPUT, ONNX_OUTPUTS };

/** Weights as plain arrays, keyed like `TfModel.weights` (`<layer>.w` in HWIO, `.gamma`, `.beta`, `.mean`, `.var`, `.bias`). */
export type WeightMap = ReadonlyMap<string, Float32Array>;

function weight(weights: WeightMap, name: string): Float32Array {
  const w = weights.get(name);
  if (!w) throw new Error(`ONNX export: no weight ${name}`);
  return w;
}

/**
 * Convolution weights in ONNX's [out, in, kh, kw] with inference batch-norm folded in:
 * w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps).
 */
function foldedConv(weights: WeightMap, name: string, k: number, c1: number, c2: number, bn: boolean): { w: Float32Array; b: Float32Array } {
  const hwio = weight(weights, `${name}.w`);
  const scale = new Float32Array(c2).fill(1);
  const b = new Float32Array(c2);
  if (bn) {
    const gamma = weight(weights, `${name}.gamma`), beta = weight(weights, `${name}.beta`);
    const mean = weight(weights, `${name}.mean`), variance = weight(weights, `${name}.var`);
    for (let o = 0; o < c2; o++) {
      scale[o] = gamma[o]! / Math.sqrt(variance[o]! + BN_EPS);
      b[o] = beta[o]! - mean[o]! * scale[o]!;
    }
  } else {
    b.set(weight(weights, `${name}.bias`));
  }
  const w = hwioToOihw(hwio, [c2, c1, k, k]);
  const perOut = c1 * k * k;
  for (let i = 0; i < w.length; i++) w[i] = w[i]! * scale[Math.floor(i / perOut)]!;
  return { w, b };
}

/**
 * The network as an ONNX inference model (opset 16): input `images` [N, 3, H, W] (RGB scaled
 * to 0..1, H and W any multiples of 32), outputs the raw heads `p3`, `p4`, `p5`
 * [N, H/s, W/s, anchors * (5 + classes + masks)] and `proto` [N, H/4, W/4, masks], in the
 * same NHWC layout as the tfjs model so one decoder serves both. Batch-norm is folded into
 * the convolutions; convolutions pad as the model was trained (`symmetric`: explicit k // 2
 * pads, as PyTorch; `same`: TensorFlow's SAME, `SAME_UPPER`, for older checkpoints), which
 * keeps the input size dynamic either way. Max-pools are SAME, equal to PyTorch's for the
 * k2/s2 and odd-k/s1 pools of this architecture.
 */
function onnxConvPadding(padding: Padding, k: number): { pads: number[] } | { auto_pad: string } {
  if (padding === 'symmetric') {
    const p = Math.floor(k / 2);
    return { pads: [p, p, p, p] };
  }
  return { auto_pad: 'SAME_UPPER' };
}

export function exportOnnx(graph: Graph, weights: WeightMap, info: OnnxModelInfo): Uint8Array {
  const b = new OnnxBuilder();
  const dims: Dim[] = ['batch', 3, 'height', 'width'];
  const values: string[] = [];
  for (const l of graph.layers) {
    switch (l.op) {
      case 'input': values.push(b.input(ONNX_INPUT, dims)); break;
      case 'conv': {
        const c1 = graph.layers[l.from]!.channels;
        const { w, b: bias } = foldedConv(weights, l.name, l.k, c1, l.channels, l.bn);
        const conv = b.op('Conv', [values[l.from]!, b.float(`${l.name}.weight`, w, [l.channels, c1, l.k, l.k]), b.float(`${l.name}.bias`, bias, [l.channels])], {
          kernel_shape: [l.k, l.k], strides: [l.s, l.s], ...onnxConvPadding(graph.padding, l.k),
        }, l.name);
        values.push(l.act === 'silu' ? b.op('Mul', [conv, b.op('Sigmoid', [conv])], {}, `${l.name}.silu`) : conv);
        break;
      }
      case 'maxpool':
        values.push(b.op('MaxPool', [values[l.from]!], { kernel_shape: [l.k, l.k], strides: [l.s, l.s], auto_pad: 'SAME_UPPER' }, l.name));
        break;
      case 'upsample':
        // tfjs resizeNearestNeighbor without half-pixel centres: source = floor(dst / scale).
        values.push(b.op('Resize', [values[l.from]!, '', b.float(`${l.name}.scales`, [1, 1, l.scale, l.scale], [4])], {
          mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor',
        }, l.name));
        break;
      case 'concat':
        values.push(b.op('Concat', l.from.map((f) => values[f]!), { axis: 1 }, l.name));
        break;
    }
  }
  const per = outputsPerAnchor(info.config);
  graph.heads.forEach((h, level) => {
    const stride = graph.layers[h]!.stride;
    b.node('Transpose', [values[h]!], { perm: [0, 2, 3, 1] }, [ONNX_OUTPUTS[level]!]);
    b.output(ONNX_OUTPUTS[level]!, ['batch', `height/${stride}`, `width/${stride}`, info.config.anchors[level]!.length * per]);
  });
  b.node('Transpose', [values[graph.proto]!], { perm: [0, 2, 3, 1] }, ['proto']);
  b.output('proto', ['batch', 'height/4', 'width/4', graph.layers[graph.proto]!.channels]);
  return b.encode('vascseg_yolov7_seg', { vascseg: JSON.stringify(info) }, `YOLOv7-seg (${info.config.size}) exported by vascseg`);
}

export function onnxInfoFromCheckpoint(meta: CheckpointMeta): OnnxModelInfo {
  return { format: 'vascseg-yolov7-seg-onnx/1', config: meta.config, imgsz: meta.imgsz, epoch: meta.epoch, metrics: meta.metrics };
}

/** Read the `vascseg` metadata of an exported model; errors name the file. */
export async function readOnnxInfo(file: string): Promise<OnnxModelInfo> {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(await readFile(file));
  } catch (e) {
    throw new Error(`${file}: not an ONNX model (${(e as Error).message})`);
  }
  const entry = model.metadataProps.find((p) => p.key === 'vascseg');
  if (!entry?.value) throw new Error(`${file}: ONNX model without vascseg metadata (export it with \`vascseg export\`)`);
  let info: OnnxModelInfo;
  try {
    info = JSON.parse(entry.value) as OnnxModelInfo;
  } catch {
    throw new Error(`${file}: vascseg metadata is not JSON`);
  }
  if (info.format !== 'vascseg-yolov7-seg-onnx/1') throw new Error(`${file}: unknown vascseg ONNX format ${String(info.format)}`);
  return info;
}
