/** `decode`: LDM latents -> images in [-1, 1] (clipped). */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { expectModel, expectShape } from './model-inputs.js';
import { clipImage } from '../util/clip-image.js';

export default defineNode({
  type: 'decode',
  version: 1,
  finiteOutputs: true,
  category: 'model',
  description: "Decode latents with a latent diffusion model's autoencoder into images clipped to [-1, 1]",
  inputs: {
    model: { type: 'model', description: 'an ldm or autoencoder model' },
    latent: { type: 'latent', description: 'N x h x w x c latents' },
  },
  outputs: { image: { type: 'image', description: 'N x H x W x C in [-1, 1]' } },
  params: { type: 'object', properties: {} },
  run(inputs, _params, ctx) {
    const model = expectModel(inputs.model, ctx.nodeId);
    const ae = model.autoencoder;
    if (!ae)
      throw new Error(`node '${ctx.nodeId}': model '${model.name}' (${model.kind}) has no autoencoder`);
    const z = inputs.latent as tf.Tensor4D;
    expectShape(z, ae.latentShape, 'the latent', ctx.nodeId);
    return { image: tf.tidy(() => clipImage(ae.decode(z))) };
  },
});
