import { stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import type { RgbImage } from '../data/images.ts';
import { fsErrorMessage } from '../util/fs.ts';

/** One level of a slide's pyramid (page `page` of the file). */
export interface SlideLevel {
  page: number;
  width: number;
  height: number;
  /** Level-0 pixels per pixel of this level. */
  downsample: number;
}

export interface SlideSource {
  file: string;
  format: string;
  width: number;
  height: number;
  levels: SlideLevel[];
  /** Microns per level-0 pixel from the file's metadata, or null when it has none. */
  mpp: number | null;
}

/** Coarser than this (microns per pixel) is a placeholder resolution, not a scan's. */
const MAX_MPP = 50;

// libvips reads windows of a tiled TIFF on demand; the limit on input pixels guards against
// decompression bombs in ordinary images, not slides.
const open = (file: string, page = 0) => sharp(file, { limitInputPixels: false, page });

/**
 * Open a slide: its size, its pyramid (pages that halve, as libvips, OpenSlide-style tools
 * and our `synth --slide` write them) and its resolution (TIFF X/YResolution, read by libvips
 * as pixels per inch). Reads nothing but headers. An unreadable file is an error naming it.
 */
export async function openSlide(file: string): Promise<SlideSource> {
  const st = await stat(file).catch((err: unknown) => { throw new Error(`--image ${fsErrorMessage(err, file, 'a slide image')}`); });
  if (!st.isFile()) throw new Error(`--image ${file}: not a file`);
  let meta: Metadata;
  try {
    meta = await open(file).metadata();
  } catch (err) {
    throw new Error(`--image ${file}: not an image libvips can read (${(err as Error).message})`);
  }
  if (!meta.width || !meta.height) throw new Error(`--image ${file}: no image size in its header`);
  const levels: SlideLevel[] = [{ page: 0, width: meta.width, height: meta.height, downsample: 1 }];
  for (let page = 1; page < (meta.pages ?? 1); page++) {
    const m = await open(file, page).metadata();
    const prev = levels[levels.length - 1]!;
    // A pyramid level is about half the one before; other pages (labels, macro images) are not levels.
    if (!m.width || !m.height || Math.abs(m.width * 2 - prev.width) > 2 || Math.abs(m.height * 2 - prev.height) > 2) break;
    levels.push({ page, width: m.width, height: m.height, downsample: meta.width / m.width });
  }
  // libvips gives the resolution in pixels per inch. Encoders write 72 ppi when nobody set one;
  // anything coarser than 50 um/px is no microscope's, so it counts as not recorded.
  const mpp = meta.density && 25_400 / meta.density <= MAX_MPP ? 25_400 / meta.density : null;
  return { file, format: meta.format ?? 'unknown', width: meta.width, height: meta.height, levels, mpp };
}

/** The pyramid level to read for `scale` level-0 pixels per output pixel: the coarsest that is not coarser. */
export function levelFor(src: SlideSource, scale: number): SlideLevel {
  let best = src.levels[0]!;
  for (const l of src.levels) if (l.downsample <= scale * 1.0001 && l.downsample > best.downsample) best = l;
  return best;
}

/**
 * A region of the slide in output pixels (`scale` level-0 pixels each), as RGB: read from the
 * best pyramid level, resized when that level is not exactly at the scale, padded white (glass)
 * where it runs past the slide.
 */
export async function readRegion(src: SlideSource, scale: number, x: number, y: number, w: number, h: number): Promise<RgbImage> {
  const level = levelFor(src, scale);
  const f = scale / level.downsample; // level pixels per output pixel
  const lx = Math.round(x * f), ly = Math.round(y * f);
  const lw = Math.round(w * f), lh = Math.round(h * f);
  const cx0 = Math.max(0, lx), cy0 = Math.max(0, ly), cx1 = Math.min(level.width, lx + lw), cy1 = Math.min(level.height, ly + lh);
  const data = new Uint8Array(w * h * 3).fill(255);
  if (cx1 <= cx0 || cy1 <= cy0) return { width: w, height: h, data };
  // The part inside the slide, at output scale, then placed into the padded region.
  const ow = Math.max(1, Math.round((cx1 - cx0) / f)), oh = Math.max(1, Math.round((cy1 - cy0) / f));
  let pipe = open(src.file, level.page).extract({ left: cx0, top: cy0, width: cx1 - cx0, height: cy1 - cy0 });
  if (ow !== cx1 - cx0 || oh !== cy1 - cy0) pipe = pipe.resize(ow, oh, { fit: 'fill', kernel: 'lanczos3' });
  const { data: px, info } = await pipe.flatten({ background: '#ffffff' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels;
  const ox = Math.round((cx0 - lx) / f), oy = Math.round((cy0 - ly) / f);
  for (let yy = 0; yy < Math.min(info.height, h - oy); yy++) {
    for (let xx = 0; xx < Math.min(info.width, w - ox); xx++) {
      const s = (yy * info.width + xx) * channels, d = ((oy + yy) * w + ox + xx) * 3;
      data[d] = px[s]!; data[d + 1] = px[channels >= 3 ? s + 1 : s]!; data[d + 2] = px[channels >= 3 ? s + 2 : s]!;
    }
  }
  return { width: w, height: h, data };
}

/** The whole slide at `scale` level-0 pixels per pixel (read from the coarsest level that suffices). */
export async function readThumbnail(src: SlideSource, scale: number): Promise<RgbImage> {
  const w = Math.max(1, Math.ceil(src.width / scale)), h = Math.max(1, Math.ceil(src.height / scale));
  return readRegion(src, scale, 0, 0, w, h);
}
