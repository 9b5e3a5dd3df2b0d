/**
 * User-supplied inpainting masks from image files (PNG, or anything sharp reads). White (grey value
 * >= 128) means observed unless `invert`; the image is converted to greyscale (alpha dropped) and
 * resized to the target size with nearest-neighbour sampling so the mask stays binary.
 */
import { access } from 'node:fs/promises';
import sharp from 'sharp';

export interface LoadMaskOptions {
  height: number;
  width: number;
  /** Treat black as observed instead of white. */
  invert?: boolean;
  /** Resize a file of another size (nearest neighbour); false refuses it. Default true. */
  resize?: boolean;
}

/** Load a mask file as a row-major Float32Array of H·W values (1 = observed, 0 = missing). */
export async function loadMaskFile(path: string, options: LoadMaskOptions): Promise<Float32Array> {
  const { height, width, invert = false, resize = true } = options;
  try {
    await access(path);
  } catch {
    throw new Error(`mask file '${path}' does not exist or cannot be read`);
  }
  if (!resize) {
    const meta = await sharp(path)
      .metadata()
      .catch(() => undefined);
    if (meta?.width !== undefined && (meta.width !== width || meta.height !== height))
      throw new Error(
        `mask file '${path}' is ${meta.height}x${meta.width} but the images are ${height}x${width}; set resizeMask: true to resize it`,
      );
  }
  let pixels: Buffer;
  let channels: number;
  try {
    const { data, info } = await sharp(path)
      .removeAlpha()
      .greyscale()
      .resize(width, height, { kernel: 'nearest', fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    pixels = data;
    channels = info.channels;
    if (info.width !== width || info.height !== height) {
      throw new Error(`resized to ${info.width}x${info.height} instead of ${width}x${height}`);
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`mask file '${path}' could not be decoded as an image: ${msg.split('\n')[0]}`);
  }
  const out = new Float32Array(height * width);
  for (let i = 0; i < out.length; i++) {
    const white = (pixels[i * channels] as number) >= 128;
    out[i] = white !== invert ? 1 : 0;
  }
  return out;
}
