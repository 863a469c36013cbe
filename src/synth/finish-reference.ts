import type { FinishInput } from './finish.ts';

/**
 * finish.wat's definition in plain loops: what `finishPixels` (finish.ts) must give byte for
 * byte (test/synth/finish.test.ts). Nothing in the generator calls this.
 */
export function referenceFinish(f: FinishInput): Uint8Array {
  const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
  const n = f.glass.length, data = new Uint8Array(3 * n), mask = f.table.length - 1;
  const { scale, shiftBy, mean, noise, grain } = f;
  /** One channel's stored value from its painted value, the pixel's contrast, offset and glass, the glass colour and a unit Gaussian. */
  const finish = (painted: number, channel: Float32Array, contrast: number, offset: number, glassy: number, glassColour: number, gaussian: number) => {
    const v = channel[clamp(Math.round(painted), 0, 255)]! * scale + shiftBy;
    const tissue = (v - mean) * contrast + mean + offset;
    // Glass keeps its colour where the tissue's contrast drifts (real glass: 215-220 in every tile).
    const out = tissue + (glassColour - tissue) * glassy + gaussian * noise * (1 + grain * glassy);
    return out < 0 ? 0 : out > 255 ? 255 : Math.round(out);
  };
  let at = f.at;
  for (let p = 0, k = 0; p < n; p++, k += 3) {
    const offset = f.drift * f.shift[p]!, contrast = 1 + f.spread * f.gain[p]!, glassy = f.glass[p]!;
    for (let c = 0; c < 3; c++) {
      data[k + c] = finish(f.px[k + c]!, f.lut[c]!, contrast, offset, glassy, f.glassRgb[c]!, f.table[at]!);
      at = (at + f.stride) & mask;
    }
  }
  return data;
}
