/**
 * Uploaded images and drawn masks: checked by their bytes (PNG, JPEG or WebP signature, then a
 * full decode by sharp, with a pixel-count limit) and stored under their content hash, so an
 * upload's id names nothing but a file in the uploads folder.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

/** Largest upload accepted, in bytes (also the multipart limit). */
export const MAX_UPLOAD_BYTES = 8 * 1024 * 1024;
/** Largest image accepted, in pixels (width x height). */
export const MAX_UPLOAD_PIXELS = 4096 * 4096;

const SIGNATURES: { ext: string; test: (b: Buffer) => boolean }[] = [
  {
    ext: 'png',
    test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  },
  { ext: 'jpg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  {
    ext: 'webp',
    test: (b) =>
      b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
  },
];

export const UPLOAD_ID = /^[0-9a-f]{64}\.(png|jpg|webp)$/;

export class UploadError extends Error {}

export interface StoredUpload {
  id: string;
  width: number;
  height: number;
}

export async function storeUpload(dir: string, bytes: Buffer): Promise<StoredUpload> {
  if (bytes.length > MAX_UPLOAD_BYTES)
    throw new UploadError(`upload is larger than ${MAX_UPLOAD_BYTES} bytes`);
  const kind = SIGNATURES.find((s) => s.test(bytes));
  if (!kind) throw new UploadError('upload is not a PNG, JPEG or WebP image');
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { limitInputPixels: MAX_UPLOAD_PIXELS }).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
    // A full decode: a truncated or corrupt body fails here, not later inside a run.
    await sharp(bytes, { limitInputPixels: MAX_UPLOAD_PIXELS }).raw().toBuffer();
  } catch (e) {
    throw new UploadError(
      `upload could not be decoded: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`,
    );
  }
  const id = `${createHash('sha256').update(bytes).digest('hex')}.${kind.ext}`;
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${id}.${process.pid}.tmp`);
  await writeFile(tmp, bytes);
  await rename(tmp, path.join(dir, id));
  return { id, width, height };
}
