import { largestComponent } from '../data/components.ts';

/** 8-neighbour dilation by `radius` pixels (the seed measured that it hurts; kept for comparison). */
export function dilate(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  let cur = mask;
  for (let r = 0; r < radius; r++) {
    const next = new Uint8Array(cur.length);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!cur[y * width + x]) continue;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < width && yy < height) next[yy * width + xx] = 1;
        }
      }
    }
    cur = next;
  }
  return cur;
}

export type PostProcess = 'lcc' | 'none';

/** The seed's post-processing: keep each mask's largest 8-connected component, then optional dilation. */
export function postprocessMask(mask: Uint8Array, width: number, height: number, post: PostProcess, dilation: number): Uint8Array {
  let out = post === 'lcc' ? largestComponent(mask, width, height) : mask;
  if (dilation > 0) out = dilate(out, width, height, dilation);
  return out;
}
