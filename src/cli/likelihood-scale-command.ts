/** `flow likelihood-scale`: compute a prior's likelihood scale b and optionally record it (docs/method.md). */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { FlowError } from '../graph/errors.js';
import { MANIFEST_FILE, parseManifest } from '../models/folder.js';
import { loadScaleImages, pixelStd, writeLikelihoodScale } from '../models/likelihood-scale.js';

export interface LikelihoodScaleOptions {
  count: number;
  size?: number;
  channels?: number;
  write?: string;
}

export async function likelihoodScaleCommand(images: string, o: LikelihoodScaleOptions): Promise<string> {
  let size = o.size;
  let channels = o.channels;
  if (o.write) {
    const file = path.join(o.write, MANIFEST_FILE);
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new FlowError(`${file}: cannot read the model manifest (${e.code ?? e.message})`);
    });
    const [h, , c] = parseManifest(text, file).dataShape;
    size ??= h;
    channels ??= c;
  }
  if (size !== undefined && !(Number.isInteger(size) && size >= 1))
    throw new FlowError(`--size must be an integer >= 1, got ${size}`);
  if (channels !== undefined && channels !== 1 && channels !== 3)
    throw new FlowError(`--channels must be 1 or 3, got ${channels}`);
  const set = await loadScaleImages(images, { count: o.count, size, channels: channels ?? 1 });
  const b = pixelStd(set.images);
  if (!Number.isFinite(b) || !(b > 0))
    throw new FlowError(`likelihood scale: the pixel std of '${images}' is ${b}; b must be > 0`);
  const line = `b = ${b.toFixed(6)} (pixel std of ${set.images.length} images of ${set.shape.join('x')} from '${images}')\n`;
  if (!o.write) return line;
  const rounded = Number(b.toPrecision(6));
  const file = await writeLikelihoodScale(
    o.write,
    { b: rounded, images, count: set.images.length },
    set.shape,
  );
  return `${line}wrote likelihoodScale.b = ${rounded} to ${file}\n`;
}
