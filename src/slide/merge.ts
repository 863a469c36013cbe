import { decodeWindow, rleBbox } from '../eval/rle.ts';
import type { Prediction } from '../infer/predict.ts';
import { inRect, intersectRects, type Rect, type SlideWindow } from './windows.ts';

/** A vessel in slide (analysis) pixels: its box and its pixels inside the box. */
export interface SlideInstance {
  score: number;
  x: number;
  y: number;
  w: number;
  h: number;
  /** Row-major w x h, 1 = vessel. */
  mask: Uint8Array;
  /** The window it was seen in (the most confident one, after merging). */
  window: number;
  /** It touches an edge of its window inside the slide: the window saw a part of it. */
  cut: boolean;
}

const windowRect = (w: SlideWindow, tile: number): Rect => [w.x, w.y, w.x + tile, w.y + tile];

/**
 * The instances a window owns: those whose box centre lies in its core (the rule that makes a
 * vessel seen whole by two windows come out once). Masks are cropped to the slide (a window at
 * the slide's edge runs into padding) and marked `cut` when they touch a window edge that is
 * not the slide's.
 */
export function ownInstances(predictions: readonly Prediction[], win: SlideWindow, tile: number, width: number, height: number): SlideInstance[] {
  const out: SlideInstance[] = [];
  for (const p of predictions) {
    let [bx, by, bw, bh] = rleBbox(p.rle);
    // Inside the slide only.
    bw = Math.min(bw, width - win.x - bx);
    bh = Math.min(bh, height - win.y - by);
    if (bw <= 0 || bh <= 0) continue;
    if (!inRect(win.core, win.x + bx + bw / 2, win.y + by + bh / 2)) continue;
    const mask = decodeWindow(p.rle, bx, by, bw, bh);
    if (!mask.some((v) => v)) continue;
    const cut = (bx === 0 && win.x > 0) || (by === 0 && win.y > 0) || (bx + bw === tile && win.x + tile < width) || (by + bh === tile && win.y + tile < height);
    out.push({ score: p.score, x: win.x + bx, y: win.y + by, w: bw, h: bh, mask, window: win.index, cut });
  }
  return out;
}

/** Pixels of an instance inside a rectangle of the slide. */
function pixelsIn(a: SlideInstance, r: Rect): number {
  let n = 0;
  for (let y = Math.max(r[1], a.y); y < Math.min(r[3], a.y + a.h); y++) {
    for (let x = Math.max(r[0], a.x); x < Math.min(r[2], a.x + a.w); x++) n += a.mask[(y - a.y) * a.w + (x - a.x)]!;
  }
  return n;
}

function sharedPixels(a: SlideInstance, b: SlideInstance, r: Rect): number {
  let n = 0;
  for (let y = Math.max(r[1], a.y, b.y); y < Math.min(r[3], a.y + a.h, b.y + b.h); y++) {
    for (let x = Math.max(r[0], a.x, b.x); x < Math.min(r[2], a.x + a.w, b.x + b.w); x++) {
      n += a.mask[(y - a.y) * a.w + (x - a.x)]! & b.mask[(y - b.y) * b.w + (x - b.x)]!;
    }
  }
  return n;
}

/**
 * Join the pieces of vessels that windows saw only in part. Two instances of different windows
 * are one vessel when at least one is cut by its window and, inside the area both windows see,
 * they share at least half of the smaller one's pixels there (two windows looking at the same
 * tissue see the same vessel; neighbouring vessels that merely touch share nothing). Joined
 * pieces become one instance: the union of their pixels, the highest score.
 */
export function mergeAcrossSeams(instances: readonly SlideInstance[], windows: readonly SlideWindow[], tile: number): SlideInstance[] {
  const parent = instances.map((_, k) => k);
  const find = (k: number): number => { while (parent[k] !== k) k = parent[k] = parent[parent[k]!]!; return k; };
  // A coarse grid of boxes finds the pairs worth comparing.
  const cell = tile;
  const grid = new Map<string, number[]>();
  instances.forEach((a, k) => {
    for (let gy = Math.floor(a.y / cell); gy <= Math.floor((a.y + a.h - 1) / cell); gy++) {
      for (let gx = Math.floor(a.x / cell); gx <= Math.floor((a.x + a.w - 1) / cell); gx++) {
        const key = `${gx},${gy}`;
        const list = grid.get(key);
        if (list) list.push(k);
        else grid.set(key, [k]);
      }
    }
  });
  const seen = new Set<string>();
  for (const list of grid.values()) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const ka = list[i]!, kb = list[j]!;
        const a = instances[ka]!, b = instances[kb]!;
        if (a.window === b.window || !(a.cut || b.cut)) continue;
        const pair = ka < kb ? `${ka},${kb}` : `${kb},${ka}`;
        if (seen.has(pair)) continue;
        seen.add(pair);
        if (!intersectRects([a.x, a.y, a.x + a.w, a.y + a.h], [b.x, b.y, b.x + b.w, b.y + b.h])) continue;
        const zone = intersectRects(windowRect(windows[a.window]!, tile), windowRect(windows[b.window]!, tile));
        if (!zone) continue;
        const smaller = Math.min(pixelsIn(a, zone), pixelsIn(b, zone));
        if (smaller > 0 && sharedPixels(a, b, zone) * 2 >= smaller) parent[find(ka)] = find(kb);
      }
    }
  }
  const groups = new Map<number, SlideInstance[]>();
  instances.forEach((a, k) => {
    const root = find(k);
    const g = groups.get(root);
    if (g) g.push(a);
    else groups.set(root, [a]);
  });
  const out: SlideInstance[] = [];
  for (const g of groups.values()) {
    if (g.length === 1) { out.push(g[0]!); continue; }
    const x0 = Math.min(...g.map((a) => a.x)), y0 = Math.min(...g.map((a) => a.y));
    const x1 = Math.max(...g.map((a) => a.x + a.w)), y1 = Math.max(...g.map((a) => a.y + a.h));
    const w = x1 - x0, h = y1 - y0;
    const mask = new Uint8Array(w * h);
    for (const a of g) {
      for (let y = 0; y < a.h; y++) for (let x = 0; x < a.w; x++) if (a.mask[y * a.w + x]) mask[(a.y + y - y0) * w + (a.x + x - x0)] = 1;
    }
    const best = g.reduce((p, q) => (q.score > p.score ? q : p));
    out.push({ score: best.score, x: x0, y: y0, w, h, mask, window: best.window, cut: false });
  }
  // A stable order whatever the order windows finished in: by position, then score.
  return out.sort((a, b) => a.y - b.y || a.x - b.x || b.score - a.score);
}
