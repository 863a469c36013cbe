/**
 * The scanner's JPEG compression, simulated: real WSIs are stored as JPEG tiles (Aperio scanners
 * write quality 70 by default), and the competition's tiles carry its traces: 8x8 blocks whose
 * borders show in the pixel differences, chroma at half resolution, fine texture quantised
 * away. `jpegRoundTrip` puts an RGB image through baseline JPEG's lossy steps (JFIF YCbCr,
 * 4:2:0 chroma subsampling, 8x8 DCT, the standard quantisation tables scaled for a quality,
 * triangle-filter chroma upsampling as libjpeg's default decoder does) and back, without
 * entropy coding (lossless, so it changes nothing).
 */
import { readFileSync } from 'node:fs';

/** The standard tables (ITU T.81 Annex K) at quality 50, in row-major order. */
export const LUMA_Q50 = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
export const CHROMA_Q50 = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
  ...new Array<number>(32).fill(99),
];

/** A table scaled for `quality` 1..100 as libjpeg does (50: as is; 100: all ones). */
export function scaledTable(base: readonly number[], quality: number): Float64Array {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? 5000 / q : 200 - 2 * q;
  return Float64Array.from(base, (v) => Math.min(255, Math.max(1, Math.floor((v * scale + 50) / 100))));
}

/** The orthonormal 8-point DCT-II basis: C[u * 8 + x] (JPEG's transform is this, in 2-D). */
export const BASIS = (() => {
  const c = new Float64Array(64);
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) c[u * 8 + x] = (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  return c;
})();

interface Kernels {
  memory: WebAssembly.Memory;
  quantisePlane(at: number, w: number, h: number, table: number): void;
  toYCbCr(rgb: number, w: number, h: number, y: number, cb: number, cr: number): void;
  upsample(plane: number, cw: number, ch: number, rows: number, out: number): void;
  toRgb(y: number, cb: number, cr: number, n: number, out: number): void;
  /** A double as the byte `toRgb` writes for it (exported for the tests). */
  byte(v: number): number;
}
let kernels: Kernels | null = null;
/** jpeg.wasm with the basis and its transpose in place (its memory layout: jpeg.wat). */
function wasm(): Kernels {
  if (kernels) return kernels;
  const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./jpeg.wasm', import.meta.url)))).exports as unknown as Kernels;
  const heap = new Float64Array(k.memory.buffer);
  heap.set(BASIS, 0);
  for (let u = 0; u < 8; u++) for (let x = 0; x < 8; x++) heap[64 + x * 8 + u] = BASIS[u * 8 + x]!;
  return (kernels = k);
}
/** Where jpeg.wat keeps the luma and chroma tables, and where images start (bytes). */
const LUMA_AT = 1024, CHROMA_AT = 1536, DATA_AT = 3072;

/** The kernels with memory for `bytes` from DATA_AT. */
function reserve(bytes: number): Kernels {
  const k = wasm();
  const pages = Math.ceil((DATA_AT + bytes) / 65536) - k.memory.buffer.byteLength / 65536;
  if (pages > 0) k.memory.grow(pages);
  return k;
}

/** A colour value as jpeg.wat rounds and clamps it into a byte. */
export const kernelByte = (v: number): number => wasm().byte(v);

/**
 * Quantise a w x h plane (w, h multiples of 8) block by block, values level-shifted by 128:
 * each 8x8 block through the DCT, rounded to the table's steps, and back (jpeg.wat).
 */
export function quantisePlane(plane: Float64Array, w: number, h: number, table: Float64Array): void {
  const k = reserve(plane.length * 8);
  const heap = new Float64Array(k.memory.buffer);
  heap.set(table, LUMA_AT / 8);
  heap.set(plane, DATA_AT / 8);
  k.quantisePlane(DATA_AT, w, h, LUMA_AT);
  plane.set(heap.subarray(DATA_AT / 8, DATA_AT / 8 + plane.length));
}

/**
 * The image as a JPEG decoder would return it after encoding at `quality` (1..100). Width and
 * height must be multiples of 16 (the 4:2:0 block grid starts at the image's corner). In
 * WebAssembly (jpeg.wat: the 8x8 blocks in SIMD), with the bytes of its plain-loop definition,
 * `referenceJpegRoundTrip` (jpeg-reference.ts), which a test holds it to.
 */
export function jpegRoundTrip(rgb: Uint8Array, width: number, height: number, quality: number): Uint8Array {
  if (width % 16 || height % 16) throw new Error(`jpegRoundTrip: ${width}x${height} is not a multiple of 16`);
  const n = width * height, cw = width / 2, ch = height / 2;
  // Planes of doubles: Y, Cb and Cr, the upsampling's vertical pass, Cb and Cr at full size; then the bytes in and out.
  const Y = DATA_AT, Cb = Y + 8 * n, Cr = Cb + 2 * n, rows = Cr + 2 * n, cbFull = rows + 4 * n, crFull = cbFull + 8 * n, src = crFull + 8 * n, dst = src + 3 * n;
  const k = reserve(dst + 3 * n - DATA_AT);
  const heap = new Float64Array(k.memory.buffer);
  heap.set(scaledTable(LUMA_Q50, quality), LUMA_AT / 8);
  heap.set(scaledTable(CHROMA_Q50, quality), CHROMA_AT / 8);
  new Uint8Array(k.memory.buffer, src, 3 * n).set(rgb);
  k.toYCbCr(src, width, height, Y, Cb, Cr);
  k.quantisePlane(Y, width, height, LUMA_AT);
  k.quantisePlane(Cb, cw, ch, CHROMA_AT);
  k.quantisePlane(Cr, cw, ch, CHROMA_AT);
  k.upsample(Cb, cw, ch, rows, cbFull);
  k.upsample(Cr, cw, ch, rows, crFull);
  k.toRgb(Y, cbFull, crFull, n, dst);
  return new Uint8Array(k.memory.buffer, dst, 3 * n).slice();
}
