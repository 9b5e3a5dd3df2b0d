/**
 * `load`: the image source. Its `path` names one file, a folder or a glob; each image is one item,
 * keyed by its file stem and read only when the runtime asks for it, so a folder of many images
 * streams through the pipeline instead of being held in memory at once.
 *
 * `path: fashion-mnist:<split>[start:stop:step]` reads Fashion-MNIST from its IDX files instead
 * (src/io/fashion-mnist.ts): one item per image, keyed `test-00042`, always 1 x 32 x 32 x 1 (28x28
 * padded with background, see that module); `size` (other than 32), `channels` and `fit` do not
 * apply. Its `label` output is the image's class.
 *
 * For files, `label` comes from a `labels.json` beside the image ({"labels": {"<stem>": <class>}},
 * as shipped with assets/fashion); without one it is an empty array (no label known).
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { defineNode, type ItemDescriptor, type NodeContext } from './define.js';
import { fileDigest, readImage, IMAGE_FITS, type ImageFit } from '../io/image.js';
import { resolveImageSources } from '../io/sources.js';
import { ImageIOError, firstLine } from '../io/errors.js';
import {
  FASHION_CLASSES,
  FASHION_SIZE,
  fashionItems,
  fashionTensor,
  isFashionSource,
  loadFashionSplit,
  rawImage,
  type FashionSplit,
} from '../io/fashion-mnist.js';

export interface LoadParams {
  path: string;
  baseDir?: string;
  size?: number | [number, number];
  channels: 1 | 3;
  fit: ImageFit;
  limit?: number;
}

/** Class labels listed in a folder's labels.json, or undefined when it has none. */
async function folderLabels(folder: string): Promise<Record<string, number> | undefined> {
  const path = join(folder, 'labels.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const doc = JSON.parse(text) as { labels?: Record<string, unknown> };
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(doc.labels ?? {})) if (Number.isInteger(v)) out[k] = v as number;
    return out;
  } catch (e) {
    throw new ImageIOError(path, `cannot parse '${path}': ${firstLine(e)}`, { cause: e });
  }
}

function stemOf(path: string): string {
  return basename(path, extname(path));
}

async function describe(key: string, path: string): Promise<ItemDescriptor> {
  let digest: string;
  try {
    digest = await fileDigest(path);
  } catch (e) {
    throw new ImageIOError(path, `cannot read image '${path}': ${firstLine(e)}`, { cause: e });
  }
  const meta: Record<string, string | number> = { path, file: basename(path) };
  const label = (await folderLabels(dirname(path)))?.[stemOf(path)];
  if (label !== undefined) {
    // The label is an output too: it joins the cache digest (files without labels keep the plain sha256).
    digest = createHash('sha256').update(`${digest}:label=${label}`).digest('hex');
    meta.label = label;
    const className = FASHION_CLASSES[label];
    if (className !== undefined) meta.className = className;
  }
  return { key, digest, meta };
}

function checkFashionParams(params: LoadParams): void {
  const size = params.size;
  const ok =
    size === undefined ||
    size === FASHION_SIZE ||
    (Array.isArray(size) && size.every((s) => s === FASHION_SIZE));
  if (!ok) {
    throw new ImageIOError(
      params.path,
      `'${params.path}': Fashion-MNIST images are ${FASHION_SIZE}x${FASHION_SIZE} (28x28 padded); size ${JSON.stringify(size)} is not supported`,
    );
  }
}

async function runFashion(params: LoadParams, ctx: NodeContext): Promise<Record<string, unknown>> {
  checkFashionParams(params);
  const meta = ctx.item?.meta;
  let split: FashionSplit;
  let index: number;
  if (meta && (meta.split === 'train' || meta.split === 'test') && typeof meta.index === 'number') {
    split = meta.split;
    index = meta.index;
  } else {
    const list = await fashionItems(params.path);
    if (list.length !== 1) {
      throw new ImageIOError(
        params.path,
        `node '${ctx.nodeId}': '${params.path}' names ${list.length} images; run it once per item`,
      );
    }
    ({ split, index } = list[0] as { split: FashionSplit; index: number });
  }
  const data = await loadFashionSplit(split);
  return { image: fashionTensor(rawImage(data, index)), label: [data.labels[index] as number] };
}

export default defineNode<LoadParams>({
  type: 'load',
  version: 2,
  category: 'io',
  description:
    'Load PNG/JPEG/WebP images (one file, a folder or a glob) or Fashion-MNIST (fashion-mnist:test[0:100]) as NHWC float32 in [-1, 1], one item per image',
  inputs: {},
  outputs: {
    image: { type: 'image', description: '1 x H x W x C image in [-1, 1]' },
    label: {
      type: 'labels',
      description:
        "The image's class as [label] (Fashion-MNIST, or a labels.json beside the files); [] if unknown",
    },
  },
  params: {
    type: 'object',
    properties: {
      path: {
        type: 'string',
        minLength: 1,
        description:
          "A file, a folder (its PNG/JPEG/WebP files), a glob such as 'images/*.png', or a Fashion-MNIST selection 'fashion-mnist:<train|test>[start:stop:step]' (Python slice rules)",
      },
      baseDir: {
        type: 'string',
        description:
          "Folder relative paths start from; default: the declaring pipeline file's folder (ctx.baseDir)",
      },
      size: {
        description: 'Output size: an integer for a square, or [height, width]; omitted keeps the file size',
        oneOf: [
          { type: 'integer', minimum: 1 },
          { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 2, maxItems: 2 },
        ],
      },
      channels: {
        enum: [1, 3],
        default: 3,
        description: '1 = grayscale (BT.601 luma), 3 = RGB (Fashion-MNIST is always 1 channel)',
      },
      fit: {
        enum: [...IMAGE_FITS],
        default: 'cover',
        description: 'cover: scale the shorter side then centre-crop; contain: pad with white; fill: stretch',
      },
      limit: { type: 'integer', minimum: 1, description: 'Use only the first N images (in sorted order)' },
    },
    required: ['path'],
    additionalProperties: false,
  },

  // Which images, not what each becomes: test[0:50] after test[0:10] recomputes only the 40 new ones.
  selectionParams: ['path', 'baseDir', 'limit'],

  async *items(params, ctx) {
    if (isFashionSource(params.path)) {
      checkFashionParams(params);
      const list = await fashionItems(params.path);
      for (const it of list.slice(0, params.limit ?? list.length)) {
        yield {
          key: it.key,
          digest: it.digest,
          meta: { label: it.label, className: it.className, index: it.index, split: it.split },
        };
      }
      return;
    }
    const baseDir = params.baseDir ?? ctx.baseDir;
    const sources = await resolveImageSources(params.path, { baseDir, limit: params.limit });
    // Digests are computed lazily, one file at a time, as the runtime iterates.
    for (const s of sources) yield await describe(s.key, s.path);
  },

  async run(_inputs, params, ctx) {
    if (isFashionSource(params.path)) return runFashion(params, ctx);
    let path = ctx.item?.meta.path;
    if (typeof path !== 'string') {
      // Called without an item (e.g. directly): allowed only when the path names one image.
      const sources = await resolveImageSources(params.path, {
        baseDir: params.baseDir ?? ctx.baseDir,
        limit: params.limit,
      });
      if (sources.length !== 1) {
        throw new ImageIOError(
          params.path,
          `node '${ctx.nodeId}': '${params.path}' names ${sources.length} images; run it once per item`,
        );
      }
      path = (sources[0] as { path: string }).path;
    }
    const image = await readImage(path, { size: params.size, channels: params.channels, fit: params.fit });
    const known = (await folderLabels(dirname(path)))?.[stemOf(path)];
    return { image, label: known === undefined ? [] : [known] };
  },
});
