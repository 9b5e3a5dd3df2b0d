/**
 * `load`: the image source. Its `path` names one file, a folder or a glob; each image is one item,
 * keyed by its file stem and read only when the runtime asks for it, so a folder of many images
 * streams through the pipeline instead of being held in memory at once.
 */
import { basename } from 'node:path';
import { defineNode, type ItemDescriptor } from './define.js';
import { fileDigest, readImage, IMAGE_FITS, type ImageFit } from '../io/image.js';
import { resolveImageSources } from '../io/sources.js';
import { ImageIOError, firstLine } from '../io/errors.js';

export interface LoadParams {
  path: string;
  baseDir?: string;
  size?: number | [number, number];
  channels: 1 | 3;
  fit: ImageFit;
  limit?: number;
}

async function describe(key: string, path: string): Promise<ItemDescriptor> {
  let digest: string;
  try {
    digest = await fileDigest(path);
  } catch (e) {
    throw new ImageIOError(path, `cannot read image '${path}': ${firstLine(e)}`, { cause: e });
  }
  return { key, digest, meta: { path, file: basename(path) } };
}

export default defineNode<LoadParams>({
  type: 'load',
  version: 1,
  category: 'io',
  description:
    'Load PNG/JPEG/WebP images (one file, a folder or a glob) as NHWC float32 in [-1, 1], one item per file',
  inputs: {},
  outputs: {
    image: { type: 'image', description: '1 x H x W x C image in [-1, 1]' },
  },
  params: {
    type: 'object',
    properties: {
      path: {
        type: 'string',
        minLength: 1,
        description: "A file, a folder (its PNG/JPEG/WebP files) or a glob such as 'images/*.png'",
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
      channels: { enum: [1, 3], default: 3, description: '1 = grayscale (BT.601 luma), 3 = RGB' },
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

  async *items(params, ctx) {
    const baseDir = params.baseDir ?? ctx.baseDir;
    const sources = await resolveImageSources(params.path, { baseDir, limit: params.limit });
    // Digests are computed lazily, one file at a time, as the runtime iterates.
    for (const s of sources) yield await describe(s.key, s.path);
  },

  async run(_inputs, params, ctx) {
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
    return { image };
  },
});
