/** `measure.sr`: antialiased bicubic downsampling by an integer factor (4x SR as in DPS), plus noise. */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { Rng } from '../util/random.js';
import { SuperResolutionOperator } from '../physics/sr.js';
import { expectImage, nodeError, SIGMA_Y_PARAM } from '../physics/node-inputs.js';

export interface MeasureSrParams {
  factor: number;
  sigmaY: number;
}

export default defineNode<MeasureSrParams>({
  type: 'measure.sr',
  version: 1,
  category: 'measure',
  description:
    'Super-resolution measurement: bicubic downsampling with antialiasing (PyTorch antialias=True)',
  inputs: {
    image: { type: 'image', description: 'The true image, 1 x H x W x C; H and W divisible by factor' },
  },
  outputs: {
    operator: { type: 'operator', description: 'A = bicubic downsampling with its observation y' },
    measurement: { type: 'image', description: 'The low-resolution observation y, 1 x H/f x W/f x C' },
  },
  params: {
    type: 'object',
    properties: {
      factor: { type: 'integer', minimum: 2, default: 4, description: 'Downsampling factor' },
      sigmaY: SIGMA_Y_PARAM,
    },
    additionalProperties: false,
  },

  run(inputs, params, ctx) {
    const image = expectImage(inputs['image'], 'image', ctx.nodeId, 1);
    const [, h, w] = image.shape;
    if (h % params.factor !== 0 || w % params.factor !== 0) {
      throw new Error(
        `node '${ctx.nodeId}': image size ${h}x${w} is not divisible by the SR factor ${params.factor}`,
      );
    }
    try {
      const operator = SuperResolutionOperator.measure(
        image,
        { factor: params.factor, sigmaY: params.sigmaY },
        new Rng(ctx.seed).fork('noise'),
      );
      return { operator, measurement: tf.clone(operator.y) };
    } catch (e) {
      throw nodeError(ctx.nodeId, e);
    }
  },
});
