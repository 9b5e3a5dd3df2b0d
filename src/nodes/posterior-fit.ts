/**
 * `posterior-fit`: fit VIPaint's hierarchical variational posterior q(z_{T_s:T_e}) to one
 * observation (docs/method.md sections 2-4): Laplace likelihood of the one-step prediction at T_s
 * through the decoder and A, closed-form KL terms, the one-random-time prior term, beta; Adam with
 * per-group learning rates. Streams the loss and its three parts per iteration, writes the loss
 * curve, and outputs the fitted parameters (cacheable).
 *
 * Defaults (docs/method.md): the Laplace scale b is the model's own (`likelihoodScale` in its
 * model.yaml; a model without one is refused unless `laplaceScale` is set); iterations are the
 * paper's 150/550 share of a `budget`; the top keypoint's initial noise is the authors' 0.1 in
 * clean units on VP priors, because Table 4's literal a1 = 0.8 sigma measured worse on the
 * embedded LDM (-1.05 ± 0.59 dB rotated windows, -0.24 ± 0.32 dB random masks, 5 images each,
 * section 10).
 */
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import {
  guidanceParams,
  perceptualInput,
  perceptualOption,
  perceptualParams,
  solverInputs,
  priorLikelihoodScale,
  solverSetup,
} from './solver-inputs.js';
import { OBSERVATION_FILLS, observationImage, type ObservationFill } from '../physics/observation.js';
import { fitVipaintPosterior } from '../solvers/vipaint/fit.js';
import { PAPER_FIT_SHARE, splitBudget } from '../solvers/vipaint/budget.js';
import type { KeypointSchedule } from './schedule.js';
import { Rng } from '../util/random.js';

export interface PosteriorFitParams {
  iterations?: number;
  budget?: number;
  fitShare: number;
  batch: number;
  beta: number;
  laplaceScale?: number;
  guidance: number;
  eta: number;
  parametrisation: 'paper' | 'authors';
  gammaShape: 'element' | 'keypoint';
  topEntropy: boolean;
  klVariant: 'correct' | 'authors';
  initFill?: ObservationFill;
  a1?: number;
  topNoise?: number;
  a2?: number;
  perceptualWeight?: number;
  lrMu: number;
  lrGamma: number;
  lrLogTau2: number;
}

export default defineNode<PosteriorFitParams>({
  type: 'posterior-fit',
  version: 2,
  finiteOutputs: true,
  category: 'solver',
  description:
    "Fit VIPaint's hierarchical Gaussian posterior over mid-range diffusion latents to an observation",
  inputs: {
    ...solverInputs,
    ...perceptualInput,
    schedule: {
      type: 'schedule',
      optional: true,
      description: 'keypoints (default: the paper K = 2 keypoints)',
    },
  },
  outputs: {
    posterior: { type: 'posterior', description: 'fitted parameters, config, loss curve and call counts' },
    metrics: { type: 'metrics', description: 'final loss and its parts' },
  },
  params: {
    type: 'object',
    properties: {
      iterations: {
        type: 'integer',
        minimum: 1,
        description:
          'Adam steps (default: from budget when set, else 50 for K = 2, 100 otherwise); overrides budget',
      },
      budget: {
        type: 'integer',
        minimum: 2,
        description:
          'differentiated network calls per image for fit + refinement: the fit gets round(fitShare x budget / (K + 1)) iterations (docs/method.md); give dps-refine the same budget',
      },
      fitShare: {
        type: 'number',
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        default: PAPER_FIT_SHARE,
        description: "share of the budget spent on the fit (the paper's 150 of 550 calls)",
      },
      batch: {
        type: 'integer',
        minimum: 1,
        default: 4,
        description: 'Monte-Carlo posterior samples per step',
      },
      beta: {
        type: 'number',
        exclusiveMinimum: 0,
        default: 1,
        description: 'weight of the KL and prior terms',
      },
      laplaceScale: {
        type: 'number',
        exclusiveMinimum: 0,
        description:
          "Laplace likelihood scale b (default: the model's likelihoodScale.b from its model.yaml, the pixel std of its data; docs/method.md)",
      },
      ...guidanceParams,
      eta: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 1,
        default: 0.2,
        description: 'DDIM eta of the prior steps between keypoints',
      },
      parametrisation: { enum: ['paper', 'authors'], default: 'paper' },
      gammaShape: { enum: ['element', 'keypoint'], default: 'element' },
      topEntropy: {
        type: 'boolean',
        default: true,
        description: 'include the entropy of q(z_Te) (false: the paper objective)',
      },
      klVariant: { enum: ['correct', 'authors'], default: 'correct' },
      initFill: {
        enum: [...OBSERVATION_FILLS],
        description:
          "inpainting: the value of the missing pixels in the image whose encoding is y_0 for the initialisation: 'zero' (mid-grey, the paper's; used when unset) or 'observed-mean' (the observed pixels' mean, for dark-background data)",
      },
      a1: {
        type: 'number',
        minimum: 0,
        description:
          "top keypoint's initial noise as Table 4 writes it, a1 x sigma_Te (paper: 0.8 VP, 0.01 EDM); setting it overrides topNoise",
      },
      topNoise: {
        type: 'number',
        minimum: 0,
        description:
          "top keypoint's initial noise in clean-latent units, topNoise x alpha_Te (the authors' code: 0.1). Default: 0.1 on VP priors (measured better than a1 = 0.8, docs/method.md), Table 4's a1 on EDM",
      },
      a2: {
        type: 'number',
        minimum: 0,
        description: "lower keypoints' initial noise a2 x sigma_s (Table 4: 1 VP, 0.01 EDM)",
      },
      ...perceptualParams,
      lrMu: { type: 'number', exclusiveMinimum: 0, default: 0.1 },
      lrGamma: { type: 'number', exclusiveMinimum: 0, default: 0.1 },
      lrLogTau2: { type: 'number', exclusiveMinimum: 0, default: 0.01 },
    },
  },
  async run(inputs, params, ctx) {
    const { model, prior, op, onCalls } = solverSetup(inputs, params, ctx);
    const laplaceScale = priorLikelihoodScale(model, params.laplaceScale, ctx.nodeId);
    const perceptual = perceptualOption(inputs, params, op, ctx.nodeId);
    const schedule = inputs.schedule as KeypointSchedule | undefined;
    const y0 = tf.tidy(() => {
      const img = observationImage(op, params.initFill ?? 'zero');
      return prior.encode(img);
    });
    try {
      const fit = await fitVipaintPosterior(prior, op, {
        y0,
        rng: new Rng(ctx.seed),
        perceptual,
        config: {
          ...(schedule ? { keypoints: schedule.keypoints } : {}),
          eta: params.eta,
          parametrisation: params.parametrisation,
          gammaShape: params.gammaShape,
        },
        iterations:
          params.iterations ??
          (params.budget === undefined
            ? undefined
            : splitBudget(params.budget, schedule?.keypoints.length ?? 2, params.fitShare).iterations),
        batch: params.batch,
        beta: params.beta,
        laplaceScale,
        klVariant: params.klVariant,
        topEntropy: params.topEntropy,
        init: { a1: params.a1, a2: params.a2, topNoise: params.topNoise },
        learningRates: { mu: params.lrMu, gamma: params.lrGamma, logTau2: params.lrLogTau2 },
        signal: ctx.signal,
        onCalls,
        preview: ctx.preview,
        onProgress: (p) =>
          ctx.progress({
            step: p.iteration,
            total: p.iterations,
            values: { loss: p.total, likelihood: p.likelihood, kl: p.kl, prior: p.prior },
          }),
      });
      const c = fit.curve;
      const last = (xs: number[]): number => xs[xs.length - 1] as number;
      const metrics = {
        fit_loss: last(c.total),
        fit_likelihood: last(c.likelihood),
        fit_kl: last(c.kl),
        fit_prior: last(c.prior),
        fit_iterations: c.total.length,
      };
      ctx.reportMetrics(metrics);
      const rows = c.total.map((t, i) => `${i + 1},${t},${c.likelihood[i]},${c.kl[i]},${c.prior[i]}`);
      ctx.writeFile({
        path: `${ctx.item?.key ?? 'result'}/${ctx.nodeId.replaceAll('/', '-')}-loss.csv`,
        bytes: Buffer.from(['iteration,total,likelihood,kl,prior', ...rows].join('\n') + '\n'),
      });
      return {
        posterior: { config: fit.config, params: fit.params, curve: fit.curve, calls: fit.calls },
        metrics,
      };
    } finally {
      y0.dispose();
    }
  },
});
