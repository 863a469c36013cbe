import { GraphBuilder, type Graph, type Padding } from './graph.ts';

/**
 * YOLOv7-seg as a graph, layer for layer the official `models/segment/yolov7-seg.yaml`: the
 * YOLOv7 backbone (ELAN blocks with MP downsampling), SPPCSPC, the PAN neck with ELAN-H
 * blocks, a plain 3x3 conv-BN-SiLU per level (the yaml's `Conv`, not a RepConv), the
 * ISegment head on P3/P4/P5 and the Proto branch on P3.
 */
export interface ModelConfig {
  /** Named size: tiny trains on 2 CPU cores; full is YOLOv7-seg's width and depth. */
  size: string;
  /** Channel multiplier (full = 1). */
  width: number;
  /** Pairs of 3x3 convs in each ELAN block (full = 2). */
  depth: number;
  classes: string[];
  masks: number;
  /** Prototype branch channels (full = 256). */
  protoChannels: number;
  /** Anchors (w, h in input pixels) per level, 3 per level. */
  anchors: [number, number][][];
  /** Convolution padding (graph.ts); absent in checkpoints that predate it, which are `same`. */
  padding?: Padding;
}

export const CLASSES = ['blood_vessel', 'glomerulus', 'unsure'];

/** YOLOv7's default anchors (P3/8, P4/16, P5/32). */
export const DEFAULT_ANCHORS: [number, number][][] = [
  [[12, 16], [19, 36], [40, 28]],
  [[36, 75], [76, 55], [72, 146]],
  [[142, 110], [192, 243], [459, 401]],
];

export const MODEL_SIZES: Record<string, Omit<ModelConfig, 'classes' | 'anchors' | 'size'>> = {
  tiny: { width: 0.125, depth: 1, masks: 32, protoChannels: 32 },
  small: { width: 0.25, depth: 1, masks: 32, protoChannels: 64 },
  full: { width: 1, depth: 2, masks: 32, protoChannels: 256 },
};

/** PyTorch YOLO's `make_divisible(c * width, 8)`: channels rounded up to a multiple of 8. */
export const scaledChannels = (c: number, width: number): number => Math.max(8, Math.ceil((c * width) / 8) * 8);

/**
 * A new model's config: a named size, or `w<multiple>` (e.g. `w0.125`) for the official
 * architecture at that `width_multiple` (full ELAN depth, proto channels 256 x width, as the
 * official parser scales them). New models pad as PyTorch does.
 */
export function modelConfig(size: string, classes = CLASSES): ModelConfig {
  const width = /^w(\d*\.?\d+)$/.exec(size);
  if (width) {
    const w = Number(width[1]);
    if (!(w > 0 && w <= 4)) throw new Error(`width multiple ${width[1]} must be in (0, 4]`);
    return { size, width: w, depth: 2, masks: 32, protoChannels: scaledChannels(256, w), classes, anchors: DEFAULT_ANCHORS, padding: 'symmetric' };
  }
  const base = MODEL_SIZES[size];
  if (!base) throw new Error(`unknown model size "${size}" (known: ${Object.keys(MODEL_SIZES).join(', ')}, or w<width multiple> such as w0.125)`);
  return { size, ...base, classes, anchors: DEFAULT_ANCHORS, padding: 'symmetric' };
}

/** Outputs per anchor: box (4), objectness (1), class scores, mask coefficients. */
export function outputsPerAnchor(config: ModelConfig): number {
  return 5 + config.classes.length + config.masks;
}

export function buildYolov7Seg(config: ModelConfig): Graph {
  const g = new GraphBuilder(3);
  const c = (v: number) => scaledChannels(v, config.width);
  const d = config.depth;

  /** ELAN: two 1x1 branches, 2d chained 3x3 convs, concat of every second one, 1x1 out. */
  const elan = (from: number, mid: number, out: number, name: string, head = false): number => {
    const a = g.conv(from, c(mid), 1, 1, `${name}.cv1`);
    const b = g.conv(from, c(mid), 1, 1, `${name}.cv2`);
    const parts = [a, b];
    let x = b;
    // ELAN-H (neck) uses half-width 3x3 convs and concatenates every one of them.
    const inner = head ? c(mid / 2) : c(mid);
    for (let k = 0; k < 2 * d; k++) {
      x = g.conv(x, inner, 3, 1, `${name}.m${k}`);
      if (head || k % 2 === 1) parts.push(x);
    }
    return g.conv(g.concat(parts.reverse(), `${name}.cat`), c(out), 1, 1, `${name}.out`);
  };
  /** MP: max-pool + 1x1 on one branch, 1x1 + 3x3 stride 2 on the other, concatenated (+ lateral). */
  const mp = (from: number, ch: number, name: string, lateral?: number): number => {
    const p = g.conv(g.maxpool(from, 2, 2, `${name}.pool`), c(ch), 1, 1, `${name}.cv1`);
    const q = g.conv(g.conv(from, c(ch), 1, 1, `${name}.cv2`), c(ch), 3, 2, `${name}.cv3`);
    return g.concat(lateral === undefined ? [q, p] : [q, p, lateral], `${name}.cat`);
  };
  /** SPPCSPC: CSP around spatial pyramid pooling with kernels 5, 9, 13. */
  const sppcspc = (from: number, ch: number, name: string): number => {
    const x1 = g.conv(g.conv(g.conv(from, c(ch), 1, 1, `${name}.cv1`), c(ch), 3, 1, `${name}.cv3`), c(ch), 1, 1, `${name}.cv4`);
    const pools = [5, 9, 13].map((k) => g.maxpool(x1, k, 1, `${name}.pool${k}`));
    const y1 = g.conv(g.conv(g.concat([x1, ...pools], `${name}.cat1`), c(ch), 1, 1, `${name}.cv5`), c(ch), 3, 1, `${name}.cv6`);
    const y2 = g.conv(from, c(ch), 1, 1, `${name}.cv2`);
    return g.conv(g.concat([y1, y2], `${name}.cat2`), c(ch), 1, 1, `${name}.cv7`);
  };

  // Backbone.
  let x = g.conv(0, c(32), 3, 1, 'backbone.stem0');
  x = g.conv(x, c(64), 3, 2, 'backbone.stem1');
  x = g.conv(x, c(64), 3, 1, 'backbone.stem2');
  x = g.conv(x, c(128), 3, 2, 'backbone.stem3');
  x = elan(x, 64, 256, 'backbone.elan1');
  x = mp(x, 128, 'backbone.mp1');
  const p3 = elan(x, 128, 512, 'backbone.elan2');
  x = mp(p3, 256, 'backbone.mp2');
  const p4 = elan(x, 256, 1024, 'backbone.elan3');
  x = mp(p4, 512, 'backbone.mp3');
  const p5 = elan(x, 256, 1024, 'backbone.elan4');

  // Neck: top-down (FPN) then bottom-up (PAN).
  const spp = sppcspc(p5, 512, 'neck.sppcspc');
  let t = g.upsample(g.conv(spp, c(256), 1, 1, 'neck.up1.cv'), 'neck.up1');
  t = g.concat([g.conv(p4, c(256), 1, 1, 'neck.lat1'), t], 'neck.cat1');
  const n4 = elan(t, 256, 256, 'neck.elan1', true);
  t = g.upsample(g.conv(n4, c(128), 1, 1, 'neck.up2.cv'), 'neck.up2');
  t = g.concat([g.conv(p3, c(128), 1, 1, 'neck.lat2'), t], 'neck.cat2');
  const o3 = elan(t, 128, 128, 'neck.elan2', true);
  const o4 = elan(mp(o3, 128, 'neck.mp1', n4), 256, 256, 'neck.elan3', true);
  const o5 = elan(mp(o4, 256, 'neck.mp2', spp), 512, 512, 'neck.elan4', true);

  // Head: a plain 3x3 conv per level, then the ISegment output convs and the prototypes.
  const r3 = g.conv(o3, c(256), 3, 1, 'head.rep3');
  const r4 = g.conv(o4, c(512), 3, 1, 'head.rep4');
  const r5 = g.conv(o5, c(1024), 3, 1, 'head.rep5');
  const outs = config.anchors[0]!.length * outputsPerAnchor(config);
  const heads = [r3, r4, r5].map((r, k) => g.conv(r, outs, 1, 1, `head.detect${k}`, 'none', false));
  let pr = g.conv(r3, config.protoChannels, 3, 1, 'head.proto.cv1');
  pr = g.upsample(pr, 'head.proto.up');
  pr = g.conv(pr, config.protoChannels, 3, 1, 'head.proto.cv2');
  const proto = g.conv(pr, config.masks, 1, 1, 'head.proto.cv3');
  return { layers: g.layers, heads, proto, padding: config.padding ?? 'same' };
}
