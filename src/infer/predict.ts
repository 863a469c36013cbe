import type { RgbImage } from '../data/images.ts';
import { TILE_SIZE } from '../data/types.ts';
import { encodeWindow, rleArea, type Rle } from '../eval/rle.ts';
import { encodeMaskString } from '../eval/submission.ts';
import { decodeDetections, softMask, type SoftMask } from './decode.ts';
import { nmsEnsemble, wsfEnsemble, type Candidate, type EnsembleMethod } from './ensemble.ts';
import { once } from '../util/once.ts';
import type { Box } from './nms.ts';
import { postprocessMask, type PostProcess } from './postprocess.ts';
import { canvasInputSize, contextCanvas, imageToInput, type Flip, type Layout } from './preprocess.ts';
import type { RawOutputs, Runtime } from './runtime.ts';
import type { ModelConfig } from '../model/yolov7seg.ts';

export interface PredictOptions {
  imgsz: number;
  conf: number;
  iou: number;
  maxDet: number;
  /** Horizontal and vertical flips merged into the pool before the ensemble step. */
  tta: 'none' | 'flip';
  ensemble: EnsembleMethod;
  post: PostProcess;
  dilate: number;
  /** Pixels of neighbouring tiles around each tile (0: none; the 2nd-place team used 128). */
  context: number;
}

export const DEFAULT_PREDICT: PredictOptions = { imgsz: 640, conf: 0.001, iou: 0.55, maxDet: 300, tta: 'none', ensemble: 'nms', post: 'lcc', dilate: 0, context: 0 };

/** One predicted vessel of a tile, at the tile's resolution. */
export interface Prediction {
  score: number;
  box: Box;
  rle: Rle;
  /** Which model (and flip) produced the kept instance. */
  source: string;
  /** The mask as a Kaggle submission writes it, when `finishTile` was asked to encode it. */
  maskString?: string;
}

/** Milliseconds spent per step, summed over calls (for `bench:infer`). */
export interface Timings {
  preprocess: number;
  forward: number;
  /** Boxes: decoding and each run's NMS. */
  decode: number;
  /** The ensemble's NMS (or fusion: `wsf` computes its members' masks here). */
  ensemble: number;
  /** The kept instances' soft masks. */
  masks: number;
  post: number;
  /** The Kaggle mask strings (when asked for). */
  encode: number;
}

export const newTimings = (): Timings => ({ preprocess: 0, forward: 0, decode: 0, ensemble: 0, masks: 0, post: 0, encode: 0 });

/** A neighbour of the tile (dx, dy in -1..1) or null where the source has none. */
export type NeighbourLookup = (dx: number, dy: number) => RgbImage | null;

export function unflipBox([x1, y1, x2, y2]: Box, flip: Flip, size: number): Box {
  if (flip === 'h') return [size - x2, y1, size - x1, y2];
  if (flip === 'v') return [x1, size - y2, x2, size - y1];
  return [x1, y1, x2, y2];
}

export function unflipMask(m: SoftMask, flip: Flip, size: number): SoftMask {
  if (flip === 'none') return m;
  const prob = new Float32Array(m.prob.length);
  for (let y = 0; y < m.h; y++) for (let x = 0; x < m.w; x++) {
    prob[y * m.w + x] = flip === 'h' ? m.prob[y * m.w + (m.w - 1 - x)]! : m.prob[(m.h - 1 - y) * m.w + x]!;
  }
  return flip === 'h' ? { ...m, x0: size - m.x0 - m.w, prob } : { ...m, y0: size - m.y0 - m.h, prob };
}

/**
 * A soft mask thresholded at 0.5 inside the tile (canvas offset `pad`), in a window of the tile
 * around it grown by `margin` pixels (room for dilation), clamped to the tile.
 */
function tileWindow(m: SoftMask, pad: number, margin: number, side: number): { x0: number; y0: number; w: number; h: number; mask: Uint8Array } {
  const x0 = Math.max(0, m.x0 - pad - margin), y0 = Math.max(0, m.y0 - pad - margin);
  const x1 = Math.min(side, m.x0 - pad + m.w + margin), y1 = Math.min(side, m.y0 - pad + m.h + margin);
  const w = Math.max(0, x1 - x0), h = Math.max(0, y1 - y0);
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const sy = y0 + y + pad - m.y0;
    if (sy < 0 || sy >= m.h) continue;
    for (let x = 0; x < w; x++) {
      const sx = x0 + x + pad - m.x0;
      if (sx >= 0 && sx < m.w && m.prob[sy * m.w + sx]! > 0.5) mask[y * w + x] = 1;
    }
  }
  return { x0, y0, w, h, mask };
}

/** What the network said about one tile: raw outputs per model and flip, and the canvas geometry. */
export interface TileOutputs {
  runs: { model: number; flip: Flip; config: ModelConfig; raw: RawOutputs }[];
  /** The tile's side (512 for competition tiles; any square window of a slide), the canvas side (tile + 2 x context), and the model input side it was resized to. */
  tile: number;
  size: number;
  inputSize: number;
  pad: number;
}

/** Model input side for a canvas: `imgsz` for a plain 512 px tile, else the same scale as a 512 px tile at `imgsz`. */
const inputSizeFor = (size: number, pad: number, imgsz: number): number => (pad > 0 || size !== TILE_SIZE ? canvasInputSize(size, imgsz, TILE_SIZE) : imgsz);

const flipsOf = (tta: PredictOptions['tta']): Flip[] => (tta === 'flip' ? ['none', 'h', 'v'] : ['none']);

/** A tile made ready for the network: one model input per flip (in `layout`), and the canvas geometry. */
export interface PreparedTile {
  inputs: Float32Array[];
  layout: Layout;
  tile: number;
  size: number;
  inputSize: number;
  pad: number;
}

/**
 * The tile's canvas (with `context` pixels of its neighbours) resized to the model input, once
 * per flip (every model of an ensemble takes the same inputs), in the layout the runtime takes
 * (`Runtime.layout`). Pure JS on plain data, so it can run in a worker thread. A tile is any square; one of another side than the competition's
 * 512 px goes in at the scale a 512 px tile goes in at `imgsz` (so objects keep the size the
 * model learnt them at).
 */
export function prepareTile(image: RgbImage, opts: PredictOptions, neighbour: NeighbourLookup = () => null, timings = newTimings(), layout: Layout = 'nhwc'): PreparedTile {
  if (image.width !== image.height) throw new Error(`image is ${image.width}x${image.height}, expected a square tile (${TILE_SIZE}x${TILE_SIZE} in the competition's layout)`);
  const t = performance.now();
  const pad = opts.context;
  const canvas = pad > 0 ? contextCanvas(image, pad, neighbour) : image;
  const size = canvas.width;
  const inputSize = inputSizeFor(size, pad, opts.imgsz);
  const inputs = flipsOf(opts.tta).map((flip) => imageToInput(canvas, inputSize, flip, undefined, layout));
  timings.preprocess += performance.now() - t;
  return { inputs, layout, tile: image.width, size, inputSize, pad };
}

/** The network part of predicting a prepared tile: every model on every flip's input. */
export async function forwardTile(runtimes: readonly Runtime[], prepared: PreparedTile, opts: PredictOptions, timings = newTimings()): Promise<TileOutputs> {
  const { inputs, layout, tile, size, inputSize, pad } = prepared;
  const flips = flipsOf(opts.tta);
  if (inputs.length !== flips.length) throw new Error(`a tile prepared with ${inputs.length} flips, the options ask for ${flips.length}`);
  const runs: TileOutputs['runs'] = [];
  for (const [model, runtime] of runtimes.entries()) {
    for (const [f, flip] of flips.entries()) {
      const t = performance.now();
      runs.push({ model, flip, config: runtime.config, raw: await runtime.run(inputs[f]!, 1, inputSize, layout) });
      timings.forward += performance.now() - t;
    }
  }
  return { runs, tile, size, inputSize, pad };
}

/** The input layout an ensemble's runtimes all take without a copy (channels last where they differ). */
export const inputLayout = (runtimes: readonly Runtime[]): Layout => (runtimes.every((r) => r.layout === 'nchw') ? 'nchw' : 'nhwc');

/** The network part of predicting a tile: `prepareTile`, then `forwardTile`. */
export async function runTile(runtimes: readonly Runtime[], image: RgbImage, opts: PredictOptions, neighbour: NeighbourLookup = () => null, timings = newTimings()): Promise<TileOutputs> {
  return forwardTile(runtimes, prepareTile(image, opts, neighbour, timings, inputLayout(runtimes)), opts, timings);
}

/** A neighbour lookup as plain data (to post to a worker): the 3 x 3 block around the tile, row by row, the tile itself null. */
export function neighbourImages(neighbour: NeighbourLookup): (RgbImage | null)[] {
  return [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => (dx === 0 && dy === 0 ? null : neighbour(dx, dy))));
}

/** The lookup `neighbourImages` was taken from. */
export const neighbourLookup = (images: readonly (RgbImage | null)[]): NeighbourLookup => (dx, dy) => images[(dy + 1) * 3 + dx + 1] ?? null;

/** Image k of a batch of raw outputs, as the outputs of a batch of one. */
function pick(raw: RawOutputs, k: number, n: number): RawOutputs {
  const one = (a: RawOutputs['proto']) => {
    const per = a.data.length / n;
    return { data: a.data.slice(k * per, (k + 1) * per), shape: [1, a.shape[1], a.shape[2], a.shape[3]] as [number, number, number, number] };
  };
  return { heads: raw.heads.map(one), proto: one(raw.proto) };
}

/**
 * The network part for several square tiles of one size at once (one forward per model and
 * flip for the whole batch), without context: what `runTile` gives each of them.
 */
export async function runTiles(runtimes: readonly Runtime[], images: readonly RgbImage[], opts: PredictOptions, timings = newTimings()): Promise<TileOutputs[]> {
  if (images.length === 1 || opts.context > 0) return Promise.all(images.map((im) => runTile(runtimes, im, opts, () => null, timings)));
  const side = images[0]!.width;
  if (images.some((im) => im.width !== side || im.height !== side)) throw new Error(`a batch of tiles must share one square size (${side} px)`);
  const inputSize = inputSizeFor(side, 0, opts.imgsz);
  const flips = flipsOf(opts.tta);
  const plane = inputSize * inputSize * 3;
  const layout = inputLayout(runtimes);
  const out: TileOutputs[] = images.map(() => ({ runs: [], tile: side, size: side, inputSize, pad: 0 }));
  // One batch per flip, shared by every model of the ensemble.
  let t = performance.now();
  const inputs = flips.map((flip) => {
    const input = new Float32Array(images.length * plane);
    images.forEach((im, k) => imageToInput(im, inputSize, flip, input.subarray(k * plane, (k + 1) * plane), layout));
    return input;
  });
  timings.preprocess += performance.now() - t;
  for (const [model, runtime] of runtimes.entries()) {
    for (const [f, flip] of flips.entries()) {
      t = performance.now();
      const raw = await runtime.run(inputs[f]!, images.length, inputSize, layout);
      timings.forward += performance.now() - t;
      out.forEach((o, k) => o.runs.push({ model, flip, config: runtime.config, raw: pick(raw, k, images.length) }));
    }
  }
  return out;
}

/**
 * The rest, pure JS on plain data (so it can run in a worker thread): decode each run, pool
 * the detections, ensemble, threshold, clip to the tile, post-process, encode (run lengths;
 * with `maskStrings`, the Kaggle submission's strings too, so the writer has only to join them).
 */
export function finishTile(tile: TileOutputs, opts: PredictOptions, timings = newTimings(), maskStrings = false): Prediction[] {
  let t = performance.now();
  const lap = (key: keyof Timings) => { const now = performance.now(); timings[key] += now - t; t = now; };
  const { size, inputSize, pad } = tile;
  const side = tile.tile;
  const scale = size / inputSize;
  const inTile = { x0: pad, y0: pad, x1: pad + side, y1: pad + side };
  const pool: Candidate[] = [];
  for (const { model, flip, config, raw } of tile.runs) {
    const dets = decodeDetections(raw, config, { conf: opts.conf, iou: opts.iou, maxDet: opts.maxDet, classes: [0] })[0]!;
    const source = `model ${model}${flip === 'none' ? '' : ` flip ${flip}`}`;
    for (const d of dets) {
      // Masks only inside the tile (all that post-processing reads; the window is the same
      // flipped or not, the context being as wide on every side), and only for the candidates
      // the ensemble keeps: a five-fold pool of 1,500 keeps at most 300.
      const mask = once(() => unflipMask(softMask(d, raw.proto, 0, inputSize, size, size, inTile), flip, size));
      pool.push({ score: d.score, box: unflipBox(d.box.map((v) => v * scale) as Box, flip, size), mask, source });
    }
  }
  lap('decode');
  const sources = tile.runs.length;
  const kept = sources === 1
    ? pool.slice(0, opts.maxDet) // one model: decoding already ran NMS, best first
    : opts.ensemble === 'wsf' ? wsfEnsemble(pool, sources, opts.iou, opts.maxDet) : nmsEnsemble(pool, opts.iou, opts.maxDet);
  lap('ensemble');
  const masks = kept.map((c) => c.mask());
  lap('masks');
  const out: Prediction[] = [];
  for (const [k, c] of kept.entries()) {
    // Post-processing works in the mask's window: a small vessel costs its box, not the tile.
    const win = tileWindow(masks[k]!, pad, opts.dilate, side);
    if (win.w === 0 || win.h === 0) continue;
    const mask = postprocessMask(win.mask, win.w, win.h, opts.post, opts.dilate);
    const rle = encodeWindow(mask, win.x0, win.y0, win.w, win.h, side, side);
    if (rleArea(rle) === 0) continue;
    const box = c.box.map((v) => Math.min(side, Math.max(0, v - pad))) as Box;
    out.push({ score: c.score, box, rle, source: c.source });
  }
  lap('post');
  if (maskStrings) for (const p of out) p.maskString = encodeMaskString(p.rle);
  lap('encode');
  return out;
}

/**
 * Predict one tile (512 px, or any square window) with one model or a fold ensemble, the seed's way: every model
 * (and flip) predicts on the tile (with `context` pixels of its neighbours around it); the
 * detections are pooled; NMS keeps the best boxes and each kept instance keeps the mask of
 * the model whose box survived (or `wsf` fuses clusters); masks are thresholded, clipped to
 * the tile, post-processed (largest component, optional dilation); empty ones are dropped.
 */
export async function predictTile(runtimes: readonly Runtime[], image: RgbImage, opts: PredictOptions, neighbour: NeighbourLookup = () => null, timings = newTimings()): Promise<Prediction[]> {
  return finishTile(await runTile(runtimes, image, opts, neighbour, timings), opts, timings);
}
