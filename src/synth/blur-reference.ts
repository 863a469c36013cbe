/**
 * blur.wat's definition in plain loops: what `scannerBlur` (blur.ts) must give bit for bit
 * (test/synth/blur.test.ts). Nothing in the generator calls this.
 */

/** One pass of [w, 1 - 2w, w] across then down over a side x side image of n interleaved channels. */
function blur(px: Float32Array, side: number, w: number, n: number): void {
  const tmp = new Float32Array(px.length);
  const c0 = 1 - 2 * w;
  const row = side * n;
  for (let y = 0; y < side; y++) {
    const o = y * row;
    for (let k = o; k < o + n; k++) tmp[k] = w * (px[k]! + px[k + n]!) + c0 * px[k]!;
    for (let k = o + n; k < o + row - n; k++) tmp[k] = w * (px[k - n]! + px[k + n]!) + c0 * px[k]!;
    for (let k = o + row - n; k < o + row; k++) tmp[k] = w * (px[k - n]! + px[k]!) + c0 * px[k]!;
  }
  for (let y = 0; y < side; y++) {
    const o = y * row, up = (y > 0 ? y - 1 : y) * row - o, down = (y < side - 1 ? y + 1 : y) * row - o;
    for (let k = o; k < o + row; k++) px[k] = w * (tmp[k + up]! + tmp[k + down]!) + c0 * tmp[k]!;
  }
}

/** `amount` passes of [1 2 1]/4, a fractional amount as one weaker pass. */
export function referenceScannerBlur(px: Float32Array, amount: number, n = 3): void {
  const side = Math.round(Math.sqrt(px.length / n));
  for (let k = 0; k < Math.floor(amount); k++) blur(px, side, 0.25, n);
  const frac = amount - Math.floor(amount);
  if (frac > 0) blur(px, side, frac / 4, n);
}
