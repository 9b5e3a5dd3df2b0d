/** `measure.blur`: Gaussian blur (DPS: 61 x 61, sigma 3.0), same-size output, plus noise. */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { Rng } from '../util/random.js';
import { BLUR_PADDINGS, GaussianBlurOperator, type BlurPadding } from '../physics/blur.js';
import { expectImage, nodeError, SIGMA_Y_PARAM } from '../physics/node-inputs.js';

export interface MeasureBlurParams {
  size: number;
  sigma: number;
  padding: BlurPadding;
  sigmaY: number;
}

export default defineNode<MeasureBlurParams>({
  type: 'measure.blur',
  version: 1,
  category: 'measure',
  description: 'Deblurring measurement: convolution with a normalised Gaussian kernel, same-size output',
  inputs: {
    image: { type: 'image', description: 'The true image, 1 x H x W x C in [-1, 1]' },
  },
  outputs: {
    operator: { type: 'operator', description: 'A = Gaussian blur with its observation y' },
    measurement: { type: 'image', description: 'The blurred observation y' },
  },
  params: {
    type: 'object',
    properties: {
      size: { type: 'integer', minimum: 1, default: 61, description: 'Odd kernel size' },
      sigma: {
        type: 'number',
        exclusiveMinimum: 0,
        default: 3.0,
        description: 'Kernel standard deviation (pixels)',
      },
      padding: {
        enum: [...BLUR_PADDINGS],
        default: 'reflect',
        description: "reflect: mirror without repeating the edge (PyTorch F.pad 'reflect'); zero",
      },
      sigmaY: SIGMA_Y_PARAM,
    },
    additionalProperties: false,
  },

  run(inputs, params, ctx) {
    const image = expectImage(inputs['image'], 'image', ctx.nodeId, 1);
    const [, h, w] = image.shape;
    if (params.size % 2 !== 1)
      throw new Error(`node '${ctx.nodeId}': blur size must be odd, got ${params.size}`);
    if (params.padding === 'reflect' && (params.size - 1) / 2 > Math.min(h, w) - 1) {
      throw new Error(
        `node '${ctx.nodeId}': blur size ${params.size} is too large for reflect padding of a ${h}x${w} image ` +
          `(at most ${2 * Math.min(h, w) - 1}); use a smaller size or padding: zero`,
      );
    }
    try {
      const operator = GaussianBlurOperator.measure(
        image,
        { size: params.size, sigma: params.sigma, padding: params.padding, sigmaY: params.sigmaY },
        new Rng(ctx.seed).fork('noise'),
      );
      return { operator, measurement: tf.clone(operator.y) };
    } catch (e) {
      throw nodeError(ctx.nodeId, e);
    }
  },
});
