/**
 * `reconstruct.naive`: the "do nothing clever" baseline. 'adjoint' returns A^T y (for inpainting the
 * observed pixels with grey holes, for blur the re-blurred observation; for SR this is dim, since
 * A^T spreads each low-resolution pixel with weights summing to ~1/factor²). 'upsample' returns the
 * bicubic upsampling of y for SR and A^T y for the other operators. Clipped to [-1, 1].
 */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { SuperResolutionOperator } from '../physics/sr.js';
import { bicubicUpsample } from '../physics/bicubic.js';
import { expectOperator } from '../physics/node-inputs.js';

export interface ReconstructNaiveParams {
  method: 'adjoint' | 'upsample';
}

export default defineNode<ReconstructNaiveParams>({
  type: 'reconstruct.naive',
  version: 1,
  category: 'reconstruct',
  description: 'Naive reconstruction from the observation: A^T y, or bicubic upsampling for super-resolution',
  inputs: {
    operator: { type: 'operator', description: 'Measurement operator with its observation y' },
  },
  outputs: {
    image: { type: 'image', description: '1 x H x W x C reconstruction in [-1, 1]' },
  },
  params: {
    type: 'object',
    properties: {
      method: {
        enum: ['adjoint', 'upsample'],
        default: 'upsample',
        description: 'adjoint: A^T y; upsample: bicubic upsampling of y for SR, A^T y otherwise',
      },
    },
    additionalProperties: false,
  },

  run(inputs, params, ctx) {
    const op = expectOperator(inputs['operator'], 'operator', ctx.nodeId);
    const image = tf.tidy(() => {
      const raw =
        params.method === 'upsample' && op instanceof SuperResolutionOperator
          ? bicubicUpsample(op.y, op.factor)
          : op.adjoint(op.y);
      return tf.clipByValue(raw, -1, 1) as tf.Tensor4D;
    });
    return { image };
  },
});
