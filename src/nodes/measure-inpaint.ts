/**
 * `measure.inpaint`: hide part of the true image behind a mask (generated from the node's seed or
 * read from a file) and observe the rest, optionally with Gaussian noise.
 */
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { Rng } from '../util/random.js';
import { InpaintOperator } from '../physics/inpaint.js';
import {
  MASK_KINDS,
  MASK_MISSING_RANGES,
  generateMask,
  loadMaskFile,
  maskToTensor,
  type MaskKind,
} from '../physics/masks.js';
import { checkMaskCoverage, expectImage, nodeError, SIGMA_Y_PARAM } from '../physics/node-inputs.js';
import { fileDigest } from '../io/digest.js';

export interface MeasureInpaintParams {
  mask: MaskKind | 'file';
  maskPath?: string;
  resizeMask: boolean;
  invert: boolean;
  sigmaY: number;
  baseDir?: string;
}

function maskFilePath(params: MeasureInpaintParams, baseDir: string): string | undefined {
  return params.maskPath === undefined ? undefined : resolve(params.baseDir ?? baseDir, params.maskPath);
}

export default defineNode<MeasureInpaintParams>({
  type: 'measure.inpaint',
  version: 1,
  category: 'measure',
  description:
    'Inpainting measurement: observe the image through a mask (small / random strokes / rotated window / file)',
  inputs: {
    image: { type: 'image', description: 'The true image, 1 x H x W x C in [-1, 1]' },
  },
  outputs: {
    operator: { type: 'operator', description: 'A(x) = mask ⊙ x with its observation y' },
    mask: { type: 'mask', description: '1 x H x W x 1, 1 = observed, 0 = missing' },
    measurement: { type: 'image', description: 'y as an image: missing pixels are 0 (grey)' },
  },
  params: {
    type: 'object',
    properties: {
      mask: {
        enum: [...MASK_KINDS, 'file'],
        default: 'rotated',
        description:
          `small: boxes and strokes, ${MASK_MISSING_RANGES.small.join('-')} missing; ` +
          `random: free-form strokes, ${MASK_MISSING_RANGES.random.join('-')}; ` +
          `rotated: a rotated window, ${MASK_MISSING_RANGES.rotated.join('-')}; file: read maskPath`,
      },
      maskPath: { type: 'string', minLength: 1, description: 'Mask image for mask: file (white = observed)' },
      invert: {
        type: 'boolean',
        default: false,
        description: 'Swap observed and missing (for files: black = observed)',
      },
      resizeMask: {
        type: 'boolean',
        default: false,
        description:
          'Resize a mask file of another size to the images (nearest neighbour); default: refuse it',
      },
      sigmaY: SIGMA_Y_PARAM,
      baseDir: {
        type: 'string',
        description:
          'Folder a relative maskPath starts from (default: the folder of the YAML file declaring the node)',
      },
    },
    additionalProperties: false,
  },
  // A mask file is keyed by its content, not its name.
  async cacheKey(params, ctx) {
    const path = params.mask === 'file' ? maskFilePath(params, ctx.baseDir) : undefined;
    if (path === undefined) return '';
    try {
      return await fileDigest(path);
    } catch {
      // Also what `flow validate` reports, before anything runs.
      throw new Error(`mask file '${path}' does not exist or cannot be read`);
    }
  },

  async run(inputs, params, ctx) {
    const image = expectImage(inputs['image'], 'image', ctx.nodeId, 1);
    const [, h, w, c] = image.shape;
    const rng = new Rng(ctx.seed);
    const maskRng = rng.fork('mask');
    const noiseRng = rng.fork('noise');
    let mask: Float32Array;
    try {
      if (params.mask === 'file') {
        const path = maskFilePath(params, ctx.baseDir);
        if (path === undefined) throw new Error("mask: 'file' needs the maskPath param");
        mask = await loadMaskFile(path, { height: h, width: w, resize: params.resizeMask });
      } else {
        mask = generateMask(params.mask, h, w, maskRng);
      }
    } catch (e) {
      throw nodeError(ctx.nodeId, e);
    }
    if (params.invert) mask = mask.map((v) => 1 - v);
    checkMaskCoverage(mask, ctx.nodeId, params.mask === 'file' ? `mask file '${params.maskPath}'` : 'mask');
    const maskTensor = maskToTensor(mask, h, w);
    try {
      const operator = InpaintOperator.measure(image, maskTensor, { sigmaY: params.sigmaY }, noiseRng);
      ctx.log(
        `mask '${params.mask}' ${h}x${w}x${c}: ${(100 * (1 - mask.reduce((a, b) => a + b, 0) / mask.length)).toFixed(1)}% missing`,
      );
      return { operator, mask: maskTensor, measurement: tf.clone(operator.y) };
    } catch (e) {
      maskTensor.dispose();
      throw nodeError(ctx.nodeId, e);
    }
  },
});
