/**
 * `sample`: draw samples from a diffusion prior, unconditional or class-conditional with
 * classifier-free guidance: DDIM (VP priors) or EDM's Heun/Euler (EDM/VE priors), decoded to
 * images for LDMs. Samples are laid out class by class: `classes: [0, 1]` with `samples: 3`
 * gives labels [0, 0, 0, 1, 1, 1].
 */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { expectModel } from './model-inputs.js';
import { Rng } from '../util/random.js';
import { sampleDdimAsync, sampleEdmAsync } from '../sampling/sample.js';
import { clipImage } from '../util/clip-image.js';
import { emitPreview } from '../io/preview.js';

export interface SampleParams {
  sampler: 'auto' | 'ddim' | 'heun' | 'euler';
  steps?: number;
  eta: number;
  samples: number;
  classes?: number[];
  guidance: number;
  batch: number;
}

export default defineNode<SampleParams>({
  type: 'sample',
  version: 1,
  finiteOutputs: true,
  category: 'model',
  description:
    'Draw samples from a diffusion prior (DDIM or EDM Heun/Euler), optionally class-conditional with guidance',
  inputs: { model: { type: 'model', description: 'an ldm or pixel-diffusion model' } },
  outputs: {
    image: { type: 'image', description: 'N x H x W x C samples in [-1, 1]' },
    latent: {
      type: 'latent',
      description: 'the samples in the diffusion space (equal to image for pixel priors)',
    },
    labels: { type: 'labels', description: 'the class of each sample (-1 when unconditional)' },
  },
  params: {
    type: 'object',
    properties: {
      sampler: {
        enum: ['auto', 'ddim', 'heun', 'euler'],
        default: 'auto',
        description: 'auto: ddim for VP priors, heun otherwise',
      },
      steps: { type: 'integer', minimum: 1, description: 'default 50 (ddim) or 18 (heun/euler)' },
      eta: { type: 'number', minimum: 0, default: 0, description: 'DDIM stochasticity' },
      samples: {
        type: 'integer',
        minimum: 1,
        default: 4,
        description: 'samples per class (or in all, when unconditional)',
      },
      classes: {
        type: 'array',
        items: { type: 'integer', minimum: 0 },
        minItems: 1,
        description: 'class labels to sample',
      },
      guidance: {
        type: 'number',
        default: 1,
        description: 'classifier-free guidance scale (1 = plain conditional)',
      },
      batch: { type: 'integer', minimum: 1, default: 16, description: 'samples per network batch' },
    },
  },
  async run(inputs, params, ctx) {
    const model = expectModel(inputs.model, ctx.nodeId);
    const d = model.denoiser;
    if (!d)
      throw new Error(`node '${ctx.nodeId}': model '${model.name}' (${model.kind}) is not a diffusion prior`);
    if (params.classes) {
      if (d.numClasses === undefined)
        throw new Error(`node '${ctx.nodeId}': model '${model.name}' is not class-conditional`);
      const bad = params.classes.find((c) => c >= (d.numClasses as number));
      if (bad !== undefined)
        throw new Error(
          `node '${ctx.nodeId}': class ${bad} is out of range (model has ${d.numClasses} classes)`,
        );
    }
    const sampler = params.sampler === 'auto' ? (d.schedule.kind === 'vp' ? 'ddim' : 'heun') : params.sampler;
    if (sampler === 'ddim' && d.schedule.kind !== 'vp')
      throw new Error(`node '${ctx.nodeId}': ddim needs a VP prior; use heun or euler`);
    if (sampler !== 'ddim' && d.schedule.kind === 'vp')
      throw new Error(`node '${ctx.nodeId}': ${sampler} needs an EDM or VE prior; use ddim`);
    const labels = params.classes
      ? params.classes.flatMap((c) => new Array<number>(params.samples).fill(c))
      : new Array<number>(params.samples).fill(-1);
    const rng = new Rng(ctx.seed);
    const prior = model.prior();
    const chunks: tf.Tensor4D[] = [];
    const total = labels.length;
    try {
      for (let start = 0; start < total; start += params.batch) {
        const chunk = labels.slice(start, start + params.batch);
        const common = {
          rng: rng.fork(`batch-${start}`),
          shape: [chunk.length, ...d.dataShape] as [number, number, number, number],
          labels: params.classes ? chunk : undefined,
          guidanceScale: params.classes && params.guidance !== 1 ? params.guidance : undefined,
          signal: ctx.signal,
          onNetworkCall: () => ctx.countCalls('forward'),
          onStep: (info: { step: number; total: number; x0: tf.Tensor4D }) => {
            ctx.progress({
              step: info.step,
              total: info.total,
              message: `samples ${start + 1}-${start + chunk.length} of ${total}`,
            });
            emitPreview(ctx.preview, info.step, info.total, () => prior.decode(info.x0));
          },
        };
        const z =
          sampler === 'ddim'
            ? await sampleDdimAsync(d, { ...common, steps: params.steps ?? 50, eta: params.eta })
            : await sampleEdmAsync(d, { ...common, steps: params.steps ?? 18, solver: sampler });
        chunks.push(z);
      }
      const latent = chunks.length === 1 ? (chunks[0] as tf.Tensor4D) : (tf.concat(chunks, 0) as tf.Tensor4D);
      if (chunks.length > 1) tf.dispose(chunks);
      const image = tf.tidy(() => clipImage(prior.decode(latent)));
      return { image, latent, labels };
    } catch (e) {
      tf.dispose(chunks);
      throw e;
    }
  },
});
