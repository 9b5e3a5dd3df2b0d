/**
 * An example plugin: a user's own node type, declared with the same API as the built-ins.
 * A pipeline lists this file under `plugins:`; `flow nodes --plugin examples/plugins/gamma.ts`
 * shows it. (Outside this repository, import defineNode from 'flow-inverse'.)
 */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from '../../src/nodes/define.js';

export default defineNode<{ gamma: number }>({
  type: 'example.gamma',
  version: 1,
  category: 'example',
  description: 'Gamma-correct an image in [-1, 1]: x -> 2 ((x + 1) / 2)^gamma - 1',
  inputs: { image: { type: 'image', description: 'N x H x W x C in [-1, 1]' } },
  outputs: { image: { type: 'image', description: 'the corrected image' } },
  params: {
    type: 'object',
    properties: { gamma: { type: 'number', exclusiveMinimum: 0, default: 0.8, description: 'exponent' } },
  },
  run(inputs, params) {
    const x = inputs.image as tf.Tensor4D;
    return { image: tf.tidy(() => tf.sub(tf.mul(tf.pow(tf.div(tf.add(x, 1), 2), params.gamma), 2), 1)) };
  },
});
