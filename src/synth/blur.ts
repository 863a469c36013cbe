import { readFileSync } from 'node:fs';

/**
 * The scanner blur: passes of the separable [w, 1 - 2w, w] filter across and down (w = 1/4: the
 * [1 2 1]/4 filter), the border pixel standing in for its missing neighbour, over a square image
 * of n interleaved float32 channels. In WebAssembly SIMD (blur.wat), with the bits of its
 * plain-loop definition (blur-reference.ts: a test holds the two to the same bits).
 */
interface Kernels { memory: WebAssembly.Memory; blur(px: number, tmp: number, side: number, n: number, w: number, c0: number): void }
let kernels: Kernels | null = null;
const wasm = () => (kernels ??= new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('./blur.wasm', import.meta.url)))).exports as unknown as Kernels);

/** `amount` passes of [1 2 1]/4 over the side x side image `px` (n channels) in place; a fractional amount as one weaker pass (w = fraction / 4). */
export function scannerBlur(px: Float32Array, amount: number, n = 3): void {
  const side = Math.round(Math.sqrt(px.length / n));
  if (side * side * n !== px.length || (side * n) % 2 !== 0) throw new Error(`scannerBlur: ${px.length} values are not a square image of ${n} channels with an even row`);
  const passes: number[] = [];
  for (let k = 0; k < Math.floor(amount); k++) passes.push(0.25);
  const frac = amount - Math.floor(amount);
  if (frac > 0) passes.push(frac / 4);
  if (passes.length === 0) return;
  const k = wasm();
  const bytes = px.length * 4;
  const pages = Math.ceil((2 * bytes) / 65536) - k.memory.buffer.byteLength / 65536;
  if (pages > 0) k.memory.grow(pages);
  const heap = new Float32Array(k.memory.buffer, 0, px.length);
  heap.set(px);
  for (const w of passes) k.blur(0, bytes, side, n, w, 1 - 2 * w);
  px.set(heap);
}
