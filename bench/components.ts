/**
 * npm run bench:components [-- --rounds 7] — the largest-component step of predict's
 * post-processing on mask windows shaped like predicted instances (filled blobs with ragged
 * edges and a few specks, windows of 16-512 px), union-find over runs (src/data/components.ts,
 * what predict runs) against the per-pixel two-pass labelling it ran before
 * (src/data/components-reference.ts), interleaved round by round; medians and ranges in ms
 * per 300 masks (predict's max-det), and the ratio.
 */
import { largestComponent } from '../src/data/components.ts';
import * as reference from '../src/data/components-reference.ts';
import { mulberry32 } from '../src/util/stats.ts';
import { flagReader } from './flags.ts';

const flag = flagReader('bench/components.ts');
const rounds = Number(flag('--rounds', '7'));
const random = mulberry32(7);

/** A w x h window holding an ellipse that fills most of it, its edge ragged, plus specks. */
function blob(w: number, h: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const dx = (x + 0.5 - w / 2) / (w / 2), dy = (y + 0.5 - h / 2) / (h / 2);
    const r = dx * dx + dy * dy + 0.15 * (random() - 0.5);
    m[y * w + x] = r < 0.85 || random() < 0.002 ? 1 : 0;
  }
  return m;
}
for (const [label, lo, hi] of [['small (16-64 px)', 16, 64], ['large (128-512 px)', 128, 512]] as const) {
  const masks = Array.from({ length: 300 }, () => { const w = lo + Math.floor(random() * (hi - lo)), h = lo + Math.floor(random() * (hi - lo)); return { w, h, m: blob(w, h) }; });
  const times = { pixels: [] as number[], runs: [] as number[] };
  for (let r = 0; r < rounds + 1; r++) {
    for (const [side, fn] of [['pixels', reference.largestComponent], ['runs', largestComponent]] as const) {
      const t = performance.now();
      for (const { w, h, m } of masks) fn(m, w, h);
      if (r > 0) times[side].push(performance.now() - t); // round 0 warms up
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const range = (v: number[]) => `${Math.min(...v).toFixed(1)}-${Math.max(...v).toFixed(1)}`;
  console.log(`${label}, 300 masks: per pixel ${med(times.pixels).toFixed(1)} ms (${range(times.pixels)}), over runs ${med(times.runs).toFixed(1)} ms (${range(times.runs)}), ${(med(times.runs) / med(times.pixels)).toFixed(3)}x`);
}
