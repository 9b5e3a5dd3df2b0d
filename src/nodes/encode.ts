/** `encode`: images -> the LDM's latent space (autoencoder mean times the scale factor). */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { expectModel, expectShape } from './model-inputs.js';

export default defineNode({
  type: 'encode',
  version: 1,
  finiteOutputs: true,
  category: 'model',
  description: "Encode images into a latent diffusion model's latent space (encoder mean x scale factor)",
  inputs: {
    model: { type: 'model', description: 'an ldm or autoencoder model' },
    image: { type: 'image', description: 'N x H x W x C in [-1, 1]' },
  },
  outputs: { latent: { type: 'latent', description: 'N x h x w x c latents' } },
  params: { type: 'object', properties: {} },
  run(inputs, _params, ctx) {
    const model = expectModel(inputs.model, ctx.nodeId);
    if (!model.autoencoder)
      throw new Error(`node '${ctx.nodeId}': model '${model.name}' (${model.kind}) has no autoencoder`);
    const x = inputs.image as tf.Tensor4D;
    expectShape(x, model.manifest.dataShape, 'the image', ctx.nodeId);
    return { latent: model.autoencoder.encode(x) };
  },
});
