/**
 * Our YOLOv7-seg weights <-> the official repository's state dict (`models/segment/yolov7-seg.yaml`).
 * Our graph lists its layers in the yaml's order, so the official module index of a layer is
 * its position; two official modules hold several of ours: SPPCSPC (index 51, our
 * `neck.sppcspc.cv1..cv7`) and ISegment (105: `m.0-2`, the detection convs, and `proto.cv1-3`).
 * Conv modules are `model.i.conv.weight` (OIHW) + `model.i.bn.{weight,bias,running_mean,running_var}`.
 */
import type { Graph, Layer } from './graph.ts';
import { hwioToOihw, oihwToHwio } from './layout.ts';
import { outputsPerAnchor, type ModelConfig } from './yolov7seg.ts';
import type { NamedArrays } from './formats/tensors.ts';

type ConvLayer = Extract<Layer, { op: 'conv' }>;

/** Our BN weights and the official `bn.*` names. */
const BN_FIELDS = [['gamma', 'weight'], ['beta', 'bias'], ['mean', 'running_mean'], ['var', 'running_var']] as const;

/** The official module path of each of our conv layers (without `.conv.weight` etc.). */
export function officialConvNames(graph: Graph): Map<string, string> {
  const names = new Map<string, string>();
  let index = 0;
  let spp: number | null = null;
  let head: number | null = null;
  for (const l of graph.layers) {
    if (l.op === 'input') continue;
    if (l.name.startsWith('neck.sppcspc.')) {
      if (spp === null) spp = index++;
      if (l.op === 'conv') names.set(l.name, `model.${spp}.${l.name.split('.').pop()}`);
      continue;
    }
    if (l.name.startsWith('head.detect') || l.name.startsWith('head.proto')) {
      if (head === null) head = index++;
      if (l.op !== 'conv') continue;
      const detect = /^head\.detect(\d)$/.exec(l.name);
      names.set(l.name, detect ? `model.${head}.m.${detect[1]}` : `model.${head}.proto.${l.name.split('.').pop()}`);
      continue;
    }
    if (l.op === 'conv') names.set(l.name, `model.${index}`);
    index++;
  }
  return names;
}

export interface ImportReport {
  /** Tensors of the file that were used / not needed (anchors, BN counters, ImplicitM). */
  used: number;
  ignored: string[];
  /** What the log should say about the class rows. */
  classRows: string;
}

const tensorOf = (t: NamedArrays, name: string, file: string) => {
  const v = t.get(name);
  if (!v) throw new Error(`${file}: tensor ${name} is missing (not a YOLOv7-seg state dict of this architecture?)`);
  return v;
};

function checkShape(name: string, shape: number[], want: number[], file: string): void {
  if (shape.join('x') !== want.join('x')) throw new Error(`${file}: tensor ${name} has shape ${shape.join('x')}, our ${want.join('x')} model needs ${want.join('x')}`);
}

/**
 * Official tensors to our weight arrays (conv kernels HWIO, BN as gamma/beta/mean/var).
 * ImplicitA, which the official ISegment adds to the detection convs' input, is folded into
 * their bias (exact for 1x1 convs: W(x + a) + b = Wx + (Wa + b)); ImplicitM is not applied
 * by the official segmentation forward and is dropped. When the file has another class count
 * (a COCO checkpoint: 80), each anchor's box, objectness and mask-coefficient rows are kept and
 * its class rows come from `fresh` (our own initialisation for our classes).
 */
export function importOfficial(tensors: NamedArrays, graph: Graph, config: ModelConfig, fresh: ReadonlyMap<string, Float32Array>, file: string): { weights: Map<string, Float32Array>; report: ImportReport } {
  const names = officialConvNames(graph);
  const weights = new Map<string, Float32Array>();
  const used = new Set<string>();
  const take = (name: string) => { used.add(name); return tensorOf(tensors, name, file); };
  const anchors = config.anchors[0]!.length;
  const no = outputsPerAnchor(config);
  let classRows = 'the file has our classes: every head row imported';
  for (const l of graph.layers) {
    if (l.op !== 'conv') continue;
    const conv = l as ConvLayer;
    const c1 = graph.layers[conv.from]!.channels;
    const prefix = names.get(l.name)!;
    if (conv.bn) {
      const w = take(`${prefix}.conv.weight`);
      checkShape(`${prefix}.conv.weight`, w.shape, [l.channels, c1, conv.k, conv.k], file);
      weights.set(`${l.name}.w`, oihwToHwio(w.data, w.shape));
      for (const [ours, theirs] of BN_FIELDS) {
        const t = take(`${prefix}.bn.${theirs}`);
        checkShape(`${prefix}.bn.${theirs}`, t.shape, [l.channels], file);
        weights.set(`${l.name}.${ours}`, Float32Array.from(t.data));
      }
      continue;
    }
    // A detection conv: rows are anchor-major, (box 4, objectness 1, classes, masks) per anchor.
    const w = take(`${prefix}.weight`), b = take(`${prefix}.bias`);
    const iaName = `${prefix.replace(/\.m\.\d$/, '')}.ia.${prefix.split('.').pop()!}.implicit`;
    const ia = tensors.get(iaName);
    if (w.shape[1] !== c1 || w.shape[2] !== 1) throw new Error(`${file}: tensor ${prefix}.weight has shape ${w.shape.join('x')}, our model needs Nx${c1}x1x1`);
    const theirNo = w.shape[0]! / anchors;
    const theirClasses = theirNo - 5 - config.masks;
    if (!Number.isInteger(theirNo) || theirClasses < 1) throw new Error(`${file}: tensor ${prefix}.weight has ${w.shape[0]} rows, not ${anchors} anchors x (5 + classes + ${config.masks} masks)`);
    const bias = Float32Array.from(b.data);
    if (ia) {
      used.add(iaName);
      for (let r = 0; r < w.shape[0]!; r++) {
        let s = 0;
        for (let c = 0; c < c1; c++) s += w.data[r * c1 + c]! * ia.data[c]!;
        bias[r] = bias[r]! + s;
      }
    }
    const ourRows = anchors * no;
    const kernel = new Float32Array(ourRows * c1), ourBias = new Float32Array(ourRows);
    const freshW = hwioToOihw(fresh.get(`${l.name}.w`)!, [ourRows, c1, 1, 1]), freshB = fresh.get(`${l.name}.bias`)!;
    const nc = config.classes.length;
    /** The file's row for our row j of anchor a; -1 for a class row the file's classes do not give. */
    const theirRow = (a: number, j: number): number => {
      if (j < 5) return a * theirNo + j;
      if (j < 5 + nc) return theirClasses === nc ? a * theirNo + j : -1;
      return a * theirNo + 5 + theirClasses + (j - 5 - nc);
    };
    for (let a = 0; a < anchors; a++) {
      for (let j = 0; j < no; j++) {
        const ours = a * no + j;
        const theirs = theirRow(a, j);
        for (let c = 0; c < c1; c++) kernel[ours * c1 + c] = theirs < 0 ? freshW[ours * c1 + c]! : w.data[theirs * c1 + c]!;
        ourBias[ours] = theirs < 0 ? freshB[ours]! : bias[theirs]!;
      }
    }
    if (theirClasses !== config.classes.length) classRows = `the file has ${theirClasses} classes, this model ${config.classes.length}: box, objectness and mask-coefficient rows imported, class rows initialised fresh`;
    weights.set(`${l.name}.w`, oihwToHwio(kernel, [ourRows, c1, 1, 1]));
    weights.set(`${l.name}.bias`, ourBias);
  }
  const ignored = [...tensors.keys()].filter((k) => !used.has(k));
  const unexpected = ignored.filter((k) => !/(\.anchors|num_batches_tracked|\.im\.\d\.implicit)$/.test(k));
  if (unexpected.length > 0) throw new Error(`${file}: ${unexpected.length} tensors fit nowhere in this architecture (${unexpected.slice(0, 3).join(', ')}${unexpected.length > 3 ? ', ...' : ''}): another model or width?`);
  return { weights, report: { used: used.size, ignored, classRows } };
}

/**
 * Our weights under the official names and shapes, a state dict the official model loads with
 * `load_state_dict` (strict): ImplicitA zeros and ImplicitM ones (their identity), anchors in
 * grid units per level as the official model keeps them, BN counters 0.
 */
export function exportOfficial(weights: ReadonlyMap<string, Float32Array>, graph: Graph, config: ModelConfig): NamedArrays {
  const names = officialConvNames(graph);
  const out: NamedArrays = new Map();
  let head = '';
  for (const l of graph.layers) {
    if (l.op !== 'conv') continue;
    const conv = l as ConvLayer;
    const c1 = graph.layers[conv.from]!.channels;
    const prefix = names.get(l.name)!;
    const oihw = hwioToOihw(weights.get(`${l.name}.w`)!, [l.channels, c1, conv.k, conv.k]);
    if (conv.bn) {
      out.set(`${prefix}.conv.weight`, { shape: [l.channels, c1, conv.k, conv.k], data: oihw });
      for (const [ours, theirs] of BN_FIELDS) {
        out.set(`${prefix}.bn.${theirs}`, { shape: [l.channels], data: Float32Array.from(weights.get(`${l.name}.${ours}`)!) });
      }
      out.set(`${prefix}.bn.num_batches_tracked`, { shape: [], data: new Float32Array(1) });
    } else {
      out.set(`${prefix}.weight`, { shape: [l.channels, c1, 1, 1], data: oihw });
      out.set(`${prefix}.bias`, { shape: [l.channels], data: Float32Array.from(weights.get(`${l.name}.bias`)!) });
      head = prefix.replace(/\.m\.\d$/, '');
      const level = prefix.split('.').pop()!;
      out.set(`${head}.ia.${level}.implicit`, { shape: [1, c1, 1, 1], data: new Float32Array(c1) });
      // The official ImplicitM spans the detection rows only (anchors x (5 + classes)), not the mask coefficients.
      const imRows = config.anchors[0]!.length * (5 + config.classes.length);
      out.set(`${head}.im.${level}.implicit`, { shape: [1, imRows, 1, 1], data: new Float32Array(imRows).fill(1) });
    }
  }
  const strides = [8, 16, 32];
  out.set(`${head}.anchors`, { shape: [3, config.anchors[0]!.length, 2], data: Float32Array.from(config.anchors.flatMap((level, k) => level.flatMap(([w, h]) => [w / strides[k]!, h / strides[k]!]))) });
  return out;
}
