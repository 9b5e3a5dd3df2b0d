/**
 * Reading and writing single images with sharp (libvips).
 *
 * Reading: PNG, JPEG and WebP only (recognised by their leading bytes, not by the file name). The
 * EXIF orientation is applied, an alpha channel is composited onto white and dropped, and the image
 * is optionally resized: 'cover' (default) scales so the shorter side matches and centre-crops,
 * 'contain' scales to fit inside and pads with white, 'fill' stretches. Resampling uses sharp's
 * default lanczos3 kernel (high quality for down- and upsizing); an image already at the target
 * size is only cropped, never resampled, so its pixels stay exact.
 *
 * Grayscale: a grayscale file read with `channels: 1` keeps its values exactly; an RGB file read
 * with `channels: 1` becomes luma Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 on the stored,
 * gamma-encoded values, as PIL's convert('L') and most ML pipelines do), kept in float without
 * rounding. A grayscale file read with `channels: 3` is replicated into three equal channels.
 */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import { ImageIOError, firstLine } from './errors.js';
import { samplesToFloat, tensorToPixels, type RawPixels } from './pixels.js';

export { fileDigest } from './digest.js';

export type ImageFit = 'cover' | 'contain' | 'fill';
export const IMAGE_FITS: readonly ImageFit[] = ['cover', 'contain', 'fill'];

export interface ReadImageOptions {
  /** Output size: one number for a square, or [height, width]. Omitted: the file's own size. */
  size?: number | readonly [number, number];
  channels: 1 | 3;
  /** How to reach `size` when the aspect ratio differs. Default 'cover'. */
  fit?: ImageFit;
}

/** A decoded image before it becomes a tensor: HWC float32 in [-1, 1]. */
export interface DecodedImage {
  data: Float32Array;
  height: number;
  width: number;
  channels: 1 | 3;
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** Formats sharp could decode but flow deliberately does not accept, by their leading bytes. */
const REJECTED_SIGNATURES: { name: string; test: (b: Uint8Array) => boolean }[] = [
  { name: 'GIF', test: (b) => ascii(b, 0, 4) === 'GIF8' },
  { name: 'TIFF', test: (b) => ascii(b, 0, 4) === 'II*\0' || ascii(b, 0, 4) === 'MM\0*' },
  { name: 'BMP', test: (b) => ascii(b, 0, 2) === 'BM' },
  { name: 'HEIF/AVIF', test: (b) => ascii(b, 4, 8) === 'ftyp' },
  { name: 'SVG', test: (b) => /^\s*<(\?xml|svg)/.test(ascii(b, 0, 64)) },
];

function ascii(b: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...b.subarray(start, Math.min(end, b.length)));
}

/** Recognise PNG, JPEG and WebP by their signatures; undefined for anything else. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((v, i) => bytes[i] === v)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

function checkedSize(size: number | readonly [number, number], label: string): [number, number] {
  const [h, w] = typeof size === 'number' ? [size, size] : size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new ImageIOError(
      label,
      `cannot read image '${label}': size must be positive integers, got ${String(size)}`,
    );
  }
  return [h, w];
}

/**
 * Decode image bytes to HWC floats in [-1, 1]. `label` names the source in errors (a path).
 * Throws ImageIOError for unsupported formats and corrupt or truncated data.
 */
export async function decodeImagePixels(
  bytes: Uint8Array,
  opts: ReadImageOptions,
  label = '<bytes>',
): Promise<DecodedImage> {
  const fail = (problem: string, cause?: unknown): never => {
    throw new ImageIOError(label, `cannot read image '${label}': ${problem}`, { cause });
  };
  if (opts.channels !== 1 && opts.channels !== 3)
    fail(`channels must be 1 or 3, got ${String(opts.channels)}`);
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    const rejected = REJECTED_SIGNATURES.find((s) => s.test(bytes));
    if (rejected) fail(`unsupported image format ${rejected.name} (use PNG, JPEG or WebP)`);
    fail(bytes.length === 0 ? 'the file is empty' : 'not a PNG, JPEG or WebP image');
  }

  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (e) {
    return fail(`corrupt ${format?.toUpperCase()} data (${firstLine(e)})`, e);
  }
  const gray = meta.space === 'b-w' || meta.space === 'grey16' || (meta.channels ?? 3) <= 2;
  const deep = meta.depth === 'ushort';

  // failOn 'warning' turns libvips' tolerated damage (e.g. a truncated JPEG) into errors.
  let pipeline = sharp(bytes, { failOn: 'warning' }).rotate().flatten({ background: '#ffffff' });
  if (opts.size !== undefined) {
    const [height, width] = checkedSize(opts.size, label);
    pipeline = pipeline.resize({
      width,
      height,
      fit: opts.fit ?? 'cover',
      position: 'centre',
      background: '#ffffff',
      kernel: 'lanczos3',
    });
  }
  pipeline = pipeline.toColourspace(gray ? (deep ? 'grey16' : 'b-w') : deep ? 'rgb16' : 'srgb');

  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    raw = await pipeline.raw({ depth: deep ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    return fail(`corrupt or truncated ${format?.toUpperCase()} data (${firstLine(e)})`, e);
  }
  const { data, info } = raw;
  // The typings omit OutputInfo.depth; the byte count per sample says the same thing.
  const bytesPerSample = data.length / (info.width * info.height * info.channels);
  const samples =
    bytesPerSample === 2
      ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2)
      : new Uint8Array(data.buffer, data.byteOffset, data.length);
  const values = samplesToFloat(samples);
  const got = info.channels;
  if (got !== 1 && got !== 3) fail(`decoded to ${got} channels, expected 1 or 3`);
  return {
    data: convertChannels(values, got as 1 | 3, opts.channels),
    height: info.height,
    width: info.width,
    channels: opts.channels,
  };
}

/** BT.601 luma weights, applied to [-1, 1] values (the affine map commutes since they sum to 1). */
const LUMA = [0.299, 0.587, 0.114] as const;

function convertChannels(values: Float32Array, from: 1 | 3, to: 1 | 3): Float32Array {
  if (from === to) return values;
  const n = values.length / from;
  const out = new Float32Array(n * to);
  if (from === 1) {
    for (let i = 0; i < n; i++) out.fill(values[i] as number, 3 * i, 3 * i + 3);
  } else {
    for (let i = 0; i < n; i++) {
      const r = values[3 * i] as number;
      const g = values[3 * i + 1] as number;
      const b = values[3 * i + 2] as number;
      out[i] = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;
    }
  }
  return out;
}

/** Decode image bytes into a 1 x H x W x C tensor in [-1, 1]. */
export async function decodeImageBytes(
  bytes: Uint8Array,
  opts: ReadImageOptions,
  label = '<bytes>',
): Promise<tf.Tensor4D> {
  const img = await decodeImagePixels(bytes, opts, label);
  return tf.tensor4d(img.data, [1, img.height, img.width, img.channels], 'float32');
}

/** Read the file's bytes, turning file-system errors into one-line messages naming the path. */
export async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EISDIR'
          ? 'is a folder, not an image file'
          : code === 'EACCES'
            ? 'permission denied'
            : firstLine(e);
    throw new ImageIOError(path, `cannot read image '${path}': ${problem}`, { cause: e });
  }
}

/** Read a PNG, JPEG or WebP file into a 1 x H x W x C tensor in [-1, 1] (see the module notes). */
export async function readImage(path: string, opts: ReadImageOptions): Promise<tf.Tensor4D> {
  return decodeImageBytes(await readImageFile(path), opts, path);
}

export interface PngOptions {
  /** Values mapped to 0 and 255. Default [-1, 1]; a mask in {0, 1} uses [0, 1]. */
  range?: readonly [number, number];
  /** zlib level 0-9 (sharp's default 6). Does not change the pixels. */
  compressionLevel?: number;
}

/** Encode 8-bit pixels as PNG: 1 channel gives a grayscale PNG, 3 an RGB one. */
export async function pixelsToPng(p: RawPixels, compressionLevel?: number): Promise<Uint8Array> {
  const img = sharp(p.data, { raw: { width: p.width, height: p.height, channels: p.channels } });
  // Without the explicit colourspace libvips would write a 1-channel input as RGB.
  const buf = await img
    .toColourspace(p.channels === 1 ? 'b-w' : 'srgb')
    .png(compressionLevel === undefined ? {} : { compressionLevel })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * Encode one image (H x W x C, or a batch of exactly one) as an 8-bit PNG: values are clipped to
 * the range, then rounded to the nearest level. The tensor is read, not disposed.
 */
export async function imageToPng(t: tf.Tensor3D | tf.Tensor4D, opts: PngOptions = {}): Promise<Uint8Array> {
  if (t.rank === 4 && t.shape[0] !== 1) {
    throw new Error(
      `imageToPng takes one image, got a batch of ${t.shape[0]} (shape [${t.shape.join(', ')}])`,
    );
  }
  const [pixels] = await tensorToPixels(t, opts.range);
  return pixelsToPng(pixels as RawPixels, opts.compressionLevel);
}
