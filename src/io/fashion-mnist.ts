/**
 * Fashion-MNIST as an image source: locating the IDX files, parsing selections such as
 * `fashion-mnist:test[0:100]`, and the ONE preprocessing every part of flow uses for this data.
 *
 * Preprocessing: each 28x28 8-bit image is padded with 2 pixels of background (byte 0) on every
 * side to 32x32 (no resampling, so every original pixel is kept exactly), then mapped to
 * [-1, 1] by p / 127.5 - 1, as one grayscale channel. The training scripts in scripts/train/
 * apply exactly this mapping (scripts/train/common.py).
 *
 * Files: `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` in /usr/share/datasets/fashion-mnist
 * (Debian's `dataset-fashion-mnist`), or in the folder named by the FASHION_MNIST_DIR variable.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { ImageIOError } from './errors.js';
import { readIdx } from './idx.js';

export const FASHION_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export const FASHION_SOURCE_PREFIX = 'fashion-mnist:';
export const FASHION_RAW_SIZE = 28;
export const FASHION_PAD = 2;
export const FASHION_SIZE = FASHION_RAW_SIZE + 2 * FASHION_PAD;
const RAW_PIXELS = FASHION_RAW_SIZE * FASHION_RAW_SIZE;

export type FashionSplit = 'train' | 'test';

/** A parsed `fashion-mnist:<split>[...]` selection (slice parts as written; undefined = omitted). */
export interface FashionSelection {
  split: FashionSplit;
  /** A single index (`[5]`, `[-1]`), or a slice. */
  index?: number;
  start?: number;
  stop?: number;
  step?: number;
}

export class FashionMnistError extends ImageIOError {
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(path, problem, options);
    this.name = 'FashionMnistError';
  }
}

export function isFashionSource(path: string): boolean {
  return path.startsWith(FASHION_SOURCE_PREFIX);
}

const SELECTION = /^fashion-mnist:(train|test)(?:\[([^\]]*)\])?$/;
const INT = /^\s*[+-]?\d+\s*$/;

function parseIntPart(text: string, spec: string): number | undefined {
  if (text.trim() === '') return undefined;
  if (!INT.test(text))
    throw new FashionMnistError(spec, `bad selection '${spec}': '${text}' is not an integer`);
  return Number.parseInt(text, 10);
}

/**
 * Parse `fashion-mnist:test`, `fashion-mnist:train[5]`, `fashion-mnist:test[0:100]`,
 * `fashion-mnist:test[0:1000:10]`, `fashion-mnist:test[-10:]`, `fashion-mnist:test[::-1]`.
 * Without brackets the whole split is selected.
 */
export function parseFashionSelection(spec: string): FashionSelection {
  const m = SELECTION.exec(spec.trim());
  if (!m) {
    throw new FashionMnistError(
      spec,
      `bad selection '${spec}': expected fashion-mnist:<train|test>[start:stop:step] or [index]`,
    );
  }
  const split = m[1] as FashionSplit;
  const inner = m[2];
  if (inner === undefined) return { split };
  const parts = inner.split(':');
  if (parts.length === 1) {
    const index = parseIntPart(parts[0] as string, spec);
    if (index === undefined) throw new FashionMnistError(spec, `bad selection '${spec}': empty index`);
    return { split, index };
  }
  if (parts.length > 3) throw new FashionMnistError(spec, `bad selection '${spec}': at most start:stop:step`);
  const [start, stop, step] = parts.map((p) => parseIntPart(p, spec));
  if (step === 0) throw new FashionMnistError(spec, `bad selection '${spec}': slice step cannot be zero`);
  return { split, start, stop, step };
}

/** Indices a selection picks from a split of `length` items, with Python's indexing and slice rules. */
export function selectionIndices(sel: FashionSelection, length: number, spec = ''): number[] {
  if (sel.index !== undefined) {
    const i = sel.index < 0 ? sel.index + length : sel.index;
    if (i < 0 || i >= length) {
      throw new FashionMnistError(
        spec,
        `selection '${spec}': index ${sel.index} is out of range for the ${length} ${sel.split} images`,
      );
    }
    return [i];
  }
  const step = sel.step ?? 1;
  // CPython's PySlice_AdjustIndices: clamp to [0, length] (or [-1, length - 1] for negative steps).
  const adjust = (v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    if (v < 0) {
      const w = v + length;
      return w < 0 ? (step < 0 ? -1 : 0) : w;
    }
    return v >= length ? (step < 0 ? length - 1 : length) : v;
  };
  const start = adjust(sel.start, step < 0 ? length - 1 : 0);
  const stop = adjust(sel.stop, step < 0 ? -1 : length);
  const out: number[] = [];
  if (step > 0) for (let i = start; i < stop; i += step) out.push(i);
  else for (let i = start; i > stop; i += step) out.push(i);
  return out;
}

/** The folder holding the IDX files: FASHION_MNIST_DIR if set, else Debian's install location. */
export function fashionMnistDir(): string {
  return process.env.FASHION_MNIST_DIR || '/usr/share/datasets/fashion-mnist';
}

export function fashionFiles(
  split: FashionSplit,
  dir = fashionMnistDir(),
): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  return {
    images: join(dir, `${prefix}-images-idx3-ubyte.gz`),
    labels: join(dir, `${prefix}-labels-idx1-ubyte.gz`),
  };
}

/** One split in memory: `count` images of 784 bytes each (row-major) and their labels. */
export interface FashionSplitData {
  split: FashionSplit;
  count: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

const loaded = new Map<string, Promise<FashionSplitData>>();

async function loadSplitUncached(split: FashionSplit, dir: string): Promise<FashionSplitData> {
  const files = fashionFiles(split, dir);
  try {
    await access(files.images);
  } catch {
    throw new FashionMnistError(
      files.images,
      `Fashion-MNIST not found (${files.images}): run scripts/setup-system.sh to install Debian's ` +
        `dataset-fashion-mnist, or set FASHION_MNIST_DIR`,
    );
  }
  const images = await readIdx(files.images);
  const labels = await readIdx(files.labels);
  const [n, h, w] = images.dims;
  if (
    images.dtype !== 'uint8' ||
    images.dims.length !== 3 ||
    h !== FASHION_RAW_SIZE ||
    w !== FASHION_RAW_SIZE
  ) {
    throw new FashionMnistError(
      files.images,
      `'${files.images}' is not a uint8 N x 28 x 28 image file (got ${images.dtype} [${images.dims.join(', ')}])`,
    );
  }
  if (labels.dtype !== 'uint8' || labels.dims.length !== 1 || labels.dims[0] !== n) {
    throw new FashionMnistError(
      files.labels,
      `'${files.labels}' does not hold ${n} uint8 labels (got ${labels.dtype} [${labels.dims.join(', ')}])`,
    );
  }
  for (const v of labels.data) {
    if (v >= FASHION_CLASSES.length)
      throw new FashionMnistError(files.labels, `'${files.labels}': label ${v} > 9`);
  }
  return { split, count: n as number, pixels: images.data as Uint8Array, labels: labels.data as Uint8Array };
}

/** Load a split (parsed once per process and folder, then shared). */
export function loadFashionSplit(split: FashionSplit, dir = fashionMnistDir()): Promise<FashionSplitData> {
  const id = `${dir}\u0000${split}`;
  let p = loaded.get(id);
  if (!p) {
    p = loadSplitUncached(split, dir);
    loaded.set(id, p);
    p.catch(() => loaded.delete(id));
  }
  return p;
}

/** The 784 raw bytes of image `index` (a view into the split). */
export function rawImage(data: FashionSplitData, index: number): Uint8Array {
  return data.pixels.subarray(index * RAW_PIXELS, (index + 1) * RAW_PIXELS);
}

/** Item key of an image: `test-00042`, `train-59999`. */
export function fashionKey(split: FashionSplit, index: number): string {
  return `${split}-${String(index).padStart(5, '0')}`;
}

/** Cache digest of an image: sha256 of its 784 bytes followed by the label byte. */
export function fashionDigest(raw: Uint8Array, label: number): string {
  return createHash('sha256').update(raw).update(Uint8Array.of(label)).digest('hex');
}

/** The preprocessing: 28x28 bytes -> 32x32 floats in [-1, 1], padded with background (-1). */
export function fashionToModelSpace(raw: Uint8Array): Float32Array {
  if (raw.length !== RAW_PIXELS)
    throw new Error(`a Fashion-MNIST image has ${RAW_PIXELS} bytes, got ${raw.length}`);
  const out = new Float32Array(FASHION_SIZE * FASHION_SIZE).fill(-1);
  for (let y = 0; y < FASHION_RAW_SIZE; y++) {
    for (let x = 0; x < FASHION_RAW_SIZE; x++) {
      out[(y + FASHION_PAD) * FASHION_SIZE + x + FASHION_PAD] =
        (raw[y * FASHION_RAW_SIZE + x] as number) / 127.5 - 1;
    }
  }
  return out;
}

/** The preprocessed image as a 1 x 32 x 32 x 1 tensor. */
export function fashionTensor(raw: Uint8Array): tf.Tensor4D {
  return tf.tensor4d(fashionToModelSpace(raw), [1, FASHION_SIZE, FASHION_SIZE, 1], 'float32');
}

export interface FashionItem {
  key: string;
  split: FashionSplit;
  index: number;
  label: number;
  className: string;
  digest: string;
}

/** Resolve a `fashion-mnist:...` source into its items (loads the split's IDX files). */
export async function fashionItems(spec: string, dir = fashionMnistDir()): Promise<FashionItem[]> {
  const sel = parseFashionSelection(spec);
  const data = await loadFashionSplit(sel.split, dir);
  return selectionIndices(sel, data.count, spec).map((index) => {
    const label = data.labels[index] as number;
    return {
      key: fashionKey(sel.split, index),
      split: sel.split,
      index,
      label,
      className: FASHION_CLASSES[label] as string,
      digest: fashionDigest(rawImage(data, index), label),
    };
  });
}
