import { readFileSync } from 'node:fs';
import { REFERENCE_DIR } from '../reference/build.ts';

/**
 * The learned refiner (generator version 5): a small convolutional filter trained SimGAN's way
 * against the 218 real tiles (`npm run bench:refiner`, README "Synthetic data"), run on each
 * finished tile. Three unpadded 3x3 convolutions of 16 channels with ReLU and a 1x1 back to RGB
 * added to the tile: it sees 3 px around a pixel, too little to draw or erase a vessel, so the
 * labels stay true; what it learned is the real scans' grain (the scanner's direction at
 * 1-2 px, sharper nuclei). The tile's own edge is mirrored for the 3 px it sees beyond it, as
 * the scanner blur treats a tile's edge (tiles of a WSI still join away from their outer 4 px).
 *
 * Runs in WebAssembly SIMD (refiner.wat): float32 with a fixed order of operations, so the
 * bytes do not depend on the machine; about 70 ms a 512 px tile on one core (README).
 */
export interface RefinerLayer { shape: number[]; w: number[]; b: number[] }

/** The layer shapes refiner.wat computes: [3,3,3,16], [3,3,16,16] twice, [1,1,16,3]. */
const SHAPES = ['3,3,3,16', '3,3,16,16', '3,3,16,16', '1,1,16,3'];
/** How far the refiner sees beyond a pixel: one pixel per 3x3 layer. */
export const REACH = 3;

export function checkRefiner(layers: readonly RefinerLayer[], what: string): void {
  const shapes = layers.map((l) => l.shape.join());
  if (shapes.join(' ') !== SHAPES.join(' ')) throw new Error(`${what}: layers ${shapes.map((s) => s.replaceAll(',', 'x')).join(', ')}; the refiner takes ${SHAPES.map((s) => s.replaceAll(',', 'x')).join(', ')}`);
  layers.forEach((l, k) => {
    const size = l.shape.reduce((a, b) => a * b, 1);
    if (l.w.length !== size || l.b.length !== l.shape.at(-1) || ![...l.w, ...l.b].every(Number.isFinite)) {
      throw new Error(`${what}: layer ${k + 1} needs ${size} finite weights and ${l.shape.at(-1)} biases, has ${l.w.length} and ${l.b.length}`);
    }
  });
}

let shipped: RefinerLayer[] | null = null;
/** The refiner the generator runs (assets/reference/refiner.json). */
export function shippedRefiner(): RefinerLayer[] {
  if (!shipped) {
    const file = REFERENCE_DIR + 'refiner.json';
    const layers = JSON.parse(readFileSync(file, 'utf8')) as RefinerLayer[];
    checkRefiner(layers, file);
    shipped = layers;
  }
  return shipped;
}

interface Exports {
  memory: WebAssembly.Memory;
  conv3(input: number, inW: number, inH: number, cin: number, w: number, b: number, out: number): void;
  finish(h: number, hW: number, n: number, w: number, b: number, x: number, xW: number, reach: number, dst: number): void;
}
let kernels: Exports | null = null;
const wasm = () => (kernels ??= new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./refiner.wasm', import.meta.url)))).exports as unknown as Exports);

/** Grows the module's memory to `bytes`. */
function reserve(memory: WebAssembly.Memory, bytes: number): void {
  const pages = Math.ceil(bytes / 65536) - memory.buffer.byteLength / 65536;
  if (pages > 0) memory.grow(pages);
}

/** Source index for position i of a row mirrored by REACH on both ends (the edge pixel repeated, as tf.mirrorPad 'symmetric'). */
const mirror = (i: number, n: number) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);

/** The tile (RGB bytes, width x height) as the refiner takes it: 0..1 floats, mirrored by REACH px; written into `x` when given (the kernel's memory). */
export function paddedInput(rgb: Uint8Array, width: number, height: number, x = new Float32Array((width + 2 * REACH) * (height + 2 * REACH) * 3)): Float32Array {
  const pw = width + 2 * REACH, ph = height + 2 * REACH;
  for (let y = 0; y < ph; y++) {
    const sy = mirror(y - REACH, height);
    for (let c = 0; c < pw; c++) {
      const s = (sy * width + mirror(c - REACH, width)) * 3, d = (y * pw + c) * 3;
      for (let k = 0; k < 3; k++) x[d + k] = rgb[s + k]! / 255;
    }
  }
  return x;
}

/** The refined tile: RGB bytes of the same size. `width` must be even (the kernel makes two pixels at a time). */
export function refineTile(rgb: Uint8Array, width: number, height: number, layers: readonly RefinerLayer[] = shippedRefiner()): Uint8Array {
  if (width % 2 !== 0 || width < 2 || height < 1 || rgb.length !== width * height * 3) throw new Error(`refineTile: a ${width} x ${height} RGB tile of ${rgb.length} bytes (the width must be even)`);
  const k = wasm();
  const bytesFor = (floats: number) => Math.ceil(floats / 4) * 16; // 16-byte aligned
  const pw = width + 2 * REACH, ph = height + 2 * REACH;
  // Memory: the weights, the padded input, two layer outputs (the third reuses the first's), the bytes out.
  const offsets: number[] = [];
  let at = 0;
  for (const l of layers) { offsets.push(at, at + bytesFor(l.w.length)); at += bytesFor(l.w.length) + bytesFor(l.b.length); }
  const xAt = at, h1 = xAt + bytesFor(pw * ph * 3), h2 = h1 + bytesFor((pw - 2) * (ph - 2) * 16), dst = h2 + bytesFor((pw - 4) * (ph - 4) * 16);
  reserve(k.memory, dst + width * height * 3);
  const heap = new Float32Array(k.memory.buffer);
  layers.forEach((l, n) => { heap.set(l.w, offsets[2 * n]! / 4); heap.set(l.b, offsets[2 * n + 1]! / 4); });
  paddedInput(rgb, width, height, heap.subarray(xAt / 4, xAt / 4 + pw * ph * 3));
  k.conv3(xAt, pw, ph, 3, offsets[0]!, offsets[1]!, h1);
  k.conv3(h1, pw - 2, ph - 2, 16, offsets[2]!, offsets[3]!, h2);
  k.conv3(h2, pw - 4, ph - 4, 16, offsets[4]!, offsets[5]!, h1);
  k.finish(h1, width, width * height, offsets[6]!, offsets[7]!, xAt, pw, REACH, dst);
  return new Uint8Array(k.memory.buffer, dst, width * height * 3).slice();
}
