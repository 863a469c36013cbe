import { paddedInput, REACH, type RefinerLayer } from './refiner.ts';

/**
 * refiner.wat's definition in plain loops: each product rounded to float32, added to a float32
 * sum that starts at the bias, in kernel order (row, column, input channel). refineTile must
 * give the same bytes (test/synth/refiner.test.ts). Nothing in the generator calls this: it
 * takes about 10 s a 512 px tile.
 */
export function referenceRefine(rgb: Uint8Array, width: number, height: number, layers: readonly RefinerLayer[]): Uint8Array {
  const f = Math.fround;
  let h = paddedInput(rgb, width, height);
  const x = h;
  let w = width + 2 * REACH, hh = height + 2 * REACH, cin = 3;
  for (const layer of layers.slice(0, 3)) {
    const ow = w - 2, oh = hh - 2, out = new Float32Array(ow * oh * 16);
    for (let y = 0; y < oh; y++) {
      for (let c = 0; c < ow; c++) {
        for (let o = 0; o < 16; o++) {
          let s = f(layer.b[o]!);
          for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) for (let i = 0; i < cin; i++) {
            s = f(s + f(h[((y + dy) * w + c + dx) * cin + i]! * f(layer.w[((dy * 3 + dx) * cin + i) * 16 + o]!)));
          }
          out[(y * ow + c) * 16 + o] = Math.max(s, 0);
        }
      }
    }
    [h, w, hh, cin] = [out, ow, oh, 16];
  }
  const last = layers[3]!, bytes = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const xp = ((Math.floor(p / width) + REACH) * (width + 2 * REACH) + (p % width) + REACH) * 3;
    for (let o = 0; o < 3; o++) {
      let s = f(last.b[o]!);
      for (let i = 0; i < 16; i++) s = f(s + f(h[p * 16 + i]! * f(last.w[i * 3 + o]!)));
      bytes[p * 3 + o] = Math.min(255, Math.max(0, roundHalfEven(f(f(x[xp + o]! + s) * 255))));
    }
  }
  return bytes;
}

/** Nearest integer, ties to even (wasm's f32.nearest, tf.round). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
