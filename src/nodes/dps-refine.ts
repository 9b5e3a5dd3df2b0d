/**
 * `dps-refine`: from z_{T_s} down to 0 with the prior's steps plus a DPS-style likelihood gradient
 * step zeta * grad ||y - A(D(x_hat(z_t)))|| at each step (docs/method.md section 5), then decode and
 * clip to [-1, 1]. T_s comes from the wired posterior (its last keypoint) or the `from` param.
 * With a perceptual model wired, LPIPS of the masked images joins the guidance loss (the paper's
 * LDM setting).
 */
import { defineNode } from './define.js';
import {
  guidanceParams,
  perceptualInput,
  perceptualOption,
  perceptualParams,
  solverInputs,
  solverSetup,
} from './solver-inputs.js';
import { expectPosterior } from './ancestral-sample.js';
import { refineWithLikelihood } from '../solvers/vipaint/refine.js';
import { refineStepsLeft } from '../solvers/vipaint/budget.js';
import { Rng } from '../util/random.js';
import type * as tf from '@tensorflow/tfjs';

export interface DpsRefineParams {
  steps?: number;
  budget?: number;
  zeta?: number;
  eta: number;
  from?: number;
  guidance: number;
  perceptualWeight?: number;
}

export default defineNode<DpsRefineParams>({
  type: 'dps-refine',
  version: 2,
  finiteOutputs: true,
  category: 'solver',
  description:
    'Refine samples at T_s to images: prior steps to 0 with a likelihood-gradient (DPS) step each time',
  inputs: {
    ...solverInputs,
    ...perceptualInput,
    latent: { type: 'latent', description: 'samples at T_s (e.g. from ancestral-sample)' },
    posterior: { type: 'posterior', optional: true, description: 'the fitted posterior: supplies T_s' },
  },
  outputs: { image: { type: 'image', description: 'N refined, decoded samples in [-1, 1]' } },
  params: {
    type: 'object',
    properties: {
      steps: {
        type: 'integer',
        minimum: 1,
        description:
          'refinement steps (default: what budget leaves after the fit when set, else every step from T_s to 0 on discrete schedules, 700 on continuous ones, as the paper); overrides budget',
      },
      budget: {
        type: 'integer',
        minimum: 2,
        description:
          "differentiated network calls per image for fit + refinement: the refinement takes what the wired posterior's fit left (docs/method.md)",
      },
      zeta: {
        type: 'number',
        minimum: 0,
        description: 'gradient step scale (default 2 for VP priors, 5 for EDM)',
      },
      eta: {
        type: 'number',
        minimum: 0,
        maximum: 1,
        default: 0.2,
        description: 'DDIM eta of the prior steps',
      },
      from: { type: 'number', description: 'T_s, when no posterior is wired' },
      ...guidanceParams,
      ...perceptualParams,
    },
  },
  async run(inputs, params, ctx) {
    const { prior, op, onCalls } = solverSetup(inputs, params, ctx);
    const posterior =
      inputs.posterior === undefined ? undefined : expectPosterior(inputs.posterior, ctx.nodeId);
    const from = params.from ?? posterior?.config.keypoints[posterior.config.keypoints.length - 1];
    if (from === undefined) throw new Error(`node '${ctx.nodeId}': wire a posterior or set 'from' (T_s)`);
    const fitCalls = posterior?.calls?.gradient;
    if (params.budget !== undefined && params.steps === undefined && fitCalls === undefined) {
      throw new Error(`node '${ctx.nodeId}': 'budget' needs the fitted posterior wired (its calls count)`);
    }
    const steps =
      params.steps ??
      (params.budget !== undefined && fitCalls !== undefined
        ? refineStepsLeft(params.budget, fitCalls)
        : undefined);
    const image = await refineWithLikelihood(prior, op, inputs.latent as tf.Tensor4D, {
      from,
      rng: new Rng(ctx.seed),
      steps,
      zeta: params.zeta,
      eta: params.eta,
      perceptual: perceptualOption(inputs, params, op, ctx.nodeId),
      signal: ctx.signal,
      onCalls,
      preview: ctx.preview,
      onProgress: (p) => ctx.progress({ step: p.step, total: p.total, values: { loss: p.loss, t: p.t } }),
    });
    return { image };
  },
});
