/**
 * The likelihood scale b of a prior (docs/method.md, "Likelihood scale b"): the standard deviation
 * over all pixels of 100 images of the prior's data, in [-1, 1]. VIPaint's Laplace likelihood
 * sum |y - A(x)| / b uses it (the paper: 0.56 for its 256 px data, 0.05 for ImageNet-64), so a
 * prior whose data is spread widely gets a proportionally weaker pull towards the observation.
 *
 * Computed in float64 (two passes: mean, then the sum of squared deviations) with the unbiased
 * N - 1 divisor, as torch.std does. Recorded in the model folder's model.yaml as
 * `likelihoodScale: { b, images, count }`, so it is part of the model's content digest.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ImageIOError } from '../io/errors.js';
import {
  fashionItems,
  fashionToModelSpace,
  isFashionSource,
  loadFashionSplit,
  rawImage,
} from '../io/fashion-mnist.js';
import { readImage } from '../io/image.js';
import { resolveImageSources } from '../io/sources.js';
import { MANIFEST_FILE, parseManifest } from './folder.js';
import type { ModelManifest } from './manifest.js';

/** The number of images the paper averages over. */
export const SCALE_IMAGE_COUNT = 100;

export interface LikelihoodScaleRecord {
  /** The scale b. */
  b: number;
  /** The image source it was computed from (as given to `flow likelihood-scale`). */
  images: string;
  /** How many images. */
  count: number;
}

/** Pixel images in [-1, 1], each H x W x C flattened, all the same shape. */
export interface PixelSet {
  shape: [number, number, number];
  images: Float32Array[];
}

/** The standard deviation (N - 1 divisor) over every pixel of every image, in float64. */
export function pixelStd(images: readonly ArrayLike<number>[]): number {
  let n = 0;
  let sum = 0;
  for (const img of images) {
    for (let i = 0; i < img.length; i++) sum += img[i] as number;
    n += img.length;
  }
  if (n < 2) throw new Error(`likelihood scale: need at least 2 pixels, got ${n}`);
  const mean = sum / n;
  let ss = 0;
  for (const img of images) {
    for (let i = 0; i < img.length; i++) {
      const d = (img[i] as number) - mean;
      ss += d * d;
    }
  }
  return Math.sqrt(ss / (n - 1));
}

export interface LoadScaleImagesOptions {
  count?: number;
  /** Resize files to size x size (ignored for Fashion-MNIST, which is always 32 x 32). */
  size?: number;
  channels?: 1 | 3;
  baseDir?: string;
}

/** The first `count` images of a folder, glob, file or `fashion-mnist:` selection, in [-1, 1]. */
export async function loadScaleImages(spec: string, options: LoadScaleImagesOptions = {}): Promise<PixelSet> {
  const count = options.count ?? SCALE_IMAGE_COUNT;
  if (!Number.isInteger(count) || count < 1) {
    throw new ImageIOError(spec, `likelihood scale: --count must be an integer >= 1, got ${count}`);
  }
  let images: Float32Array[];
  let shape: [number, number, number];
  if (isFashionSource(spec)) {
    const items = (await fashionItems(spec)).slice(0, count);
    images = [];
    for (const item of items) {
      const data = await loadFashionSplit(item.split);
      images.push(fashionToModelSpace(rawImage(data, item.index)));
    }
    shape = [32, 32, 1];
  } else {
    const sources = await resolveImageSources(spec, { limit: count, baseDir: options.baseDir });
    images = [];
    shape = [0, 0, 0];
    for (const s of sources) {
      const t = await readImage(s.path, {
        channels: options.channels ?? 1,
        ...(options.size ? { size: options.size } : {}),
      });
      const [, h, w, c] = t.shape;
      if (images.length === 0) shape = [h, w, c];
      else if (shape.join('x') !== [h, w, c].join('x')) {
        t.dispose();
        throw new ImageIOError(
          s.path,
          `likelihood scale: '${s.path}' is ${h}x${w}x${c} but the first image is ${shape.join('x')}; give --size`,
        );
      }
      images.push(t.dataSync() as Float32Array);
      t.dispose();
    }
  }
  if (images.length < count) {
    throw new ImageIOError(
      spec,
      `likelihood scale: '${spec}' gives ${images.length} image(s), ${count} wanted (lower --count to use fewer)`,
    );
  }
  return { shape, images };
}

/** Kinds whose model.yaml may carry a likelihood scale: the diffusion priors. */
const PRIOR_KINDS: ReadonlySet<ModelManifest['kind']> = new Set(['ldm', 'pixel-diffusion']);

/**
 * Record b in `<dir>/model.yaml`, keeping the rest of the file (comments included) as it is. The
 * images must have the model's data shape. The file is validated, then replaced atomically.
 */
export async function writeLikelihoodScale(
  dir: string,
  record: LikelihoodScaleRecord,
  imageShape: readonly number[],
): Promise<string> {
  const file = path.join(dir, MANIFEST_FILE);
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${file}: cannot read the model manifest (${e.code ?? e.message})`);
  });
  const manifest = parseManifest(text, file);
  if (!PRIOR_KINDS.has(manifest.kind)) {
    throw new Error(`${file}: model '${manifest.name}' is a ${manifest.kind}, not a diffusion prior`);
  }
  if (manifest.dataShape.join('x') !== imageShape.join('x')) {
    throw new Error(
      `${file}: the model's data is ${manifest.dataShape.join('x')} but the images are ${imageShape.join('x')} (give --size / use matching images)`,
    );
  }
  const doc = parseDocument(text);
  doc.set('likelihoodScale', { b: record.b, images: record.images, count: record.count });
  const out = doc.toString({ lineWidth: 0 });
  parseManifest(out, file);
  const tmp = path.join(dir, `.${MANIFEST_FILE}.tmp-${process.pid}-${Date.now()}`);
  try {
    await writeFile(tmp, out);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return file;
}
