import sharp, { type OutputInfo } from 'sharp';
import { DatasetError } from './errors.ts';

/** An 8-bit RGB image, row-major, interleaved. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

// Tile decoding is the data layer's hot loop; libvips' own cache only costs memory here.
sharp.cache(false);

/**
 * Decode an image file (TIFF, PNG, ...) to RGB, checking its size and channels.
 * `expected` is the size the dataset promises (512x512 for the competition's tiles).
 */
export async function readRgb(path: string, expected?: { width: number; height: number }, tileId?: string): Promise<RgbImage> {
  let result: { data: Buffer; info: OutputInfo };
  let channels: number;
  try {
    // The header's channel count: sharp's decoder would silently turn grey into RGB and keep alpha.
    channels = (await sharp(path).metadata()).channels ?? 0;
    result = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' || /missing|not found|no such file/i.test((err as Error).message)
      ? 'image file does not exist'
      : `cannot decode image: ${(err as Error).message}`;
    throw new DatasetError([{ file: path, tileId, message }]);
  }
  const { width, height } = result.info;
  if (channels !== 3 || result.info.channels !== 3) {
    throw new DatasetError([{ file: path, tileId, message: `image has ${channels} channel${channels === 1 ? '' : 's'}, expected 3 (RGB)` }]);
  }
  if (expected && (width !== expected.width || height !== expected.height)) {
    throw new DatasetError([{ file: path, tileId, message: `image is ${width}x${height}, expected ${expected.width}x${expected.height}` }]);
  }
  return { width, height, data: new Uint8Array(result.data.buffer, result.data.byteOffset, result.data.length) };
}

/** Header-only look at an image: size and channels, without decoding pixels. */
export async function probeImage(path: string): Promise<{ width: number; height: number; channels: number }> {
  const meta = await sharp(path).metadata();
  return { width: meta.width ?? 0, height: meta.height ?? 0, channels: meta.channels ?? 0 };
}

/** Encode RGB pixels as TIFF (deflate, as compact as the competition's files) in memory. */
export async function encodeTiff(image: RgbImage): Promise<Buffer> {
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), {
    raw: { width: image.width, height: image.height, channels: 3 },
  }).tiff({ compression: 'deflate', predictor: 'horizontal' }).toBuffer();
}
