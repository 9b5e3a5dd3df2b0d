/**
 * The VIPaint loss (docs/method.md section 3, the paper's Eq. 9 / appendix C.1) for a Monte-Carlo batch of
 * B posterior samples, per sample:
 *
 *   likelihood = -log p(y | z_{T_s}) on x_hat(z_{T_s}, T_s), decoded for an LDM, through A
 *                (the caller's `likelihood`, normally laplaceNll with scale b, plus a perceptual term);
 *   kl         = sum_i KL( q(z_{s(i)} | z_{s(i+1)}) || p_theta(z_{s(i)} | z_{s(i+1)}) ), closed form;
 *   prior      = the one-random-time estimate of L_{(T_e,T)}(z_{T_e}) (prior-term.ts);
 *   total      = likelihood + beta (kl + prior).
 *
 * Network calls: K - 1 for the transitions, one for x_hat at T_s, one for the prior term (K + 1, each
 * on the whole batch). Nothing else is drawn here: all randomness comes in `draws`, so the loss is a
 * deterministic, differentiable function of the parameters (what tests and finite differences need).
 *
 * The top level's entropy: L_{(T_e,T)} stands for KL(q(z_{T_e}) || p(z_{T_e})) in the paper's Eq. 31,
 * which is E_q[-log p(z_{T_e})] (bounded by the diffusion loss of prior-term.ts) MINUS the entropy
 * of q(z_{T_e}). The paper's appendix C.2 derives only the diffusion loss and the authors' code has
 * no entropy term; without it nothing stops tau_{T_e} from shrinking, and the posterior loses the
 * prior's variance where nothing is observed (measured on the Gaussian-prior test: the std of x_hat
 * on missing pixels falls from the exact 0.65 to ~0.4 in 300 iterations without it, stays at
 * 0.57-0.66 with it). For a Gaussian prior the diffusion loss's curvature in z_{T_e} matches
 * -log p(z_{T_e})'s to ~1% at the paper's T_e, so with the entropy the prior part is the KL up to a
 * constant. We therefore add -H = -sum 0.5 log tau_0^2 (constants dropped) by default;
 * `topEntropy: false` gives the paper's / authors' objective.
 */
import * as tf from '@tensorflow/tfjs';
import type { Denoiser } from '../../networks/denoiser.js';
import type { ImageLoss } from '../likelihood.js';
import type { DiffusionPrior } from '../prior.js';
import type { VipaintConfig } from './config.js';
import { gaussianKl, type KlVariant } from './kl.js';
import {
  sampleTop,
  walkHierarchy,
  levelSlice,
  type HierarchyNoise,
  type VipaintParams,
} from './posterior.js';
import { priorTerm, type PriorDraw } from './prior-term.js';

export interface ObjectiveDraws {
  hierarchy: HierarchyNoise;
  prior: PriorDraw;
}

export interface ObjectiveOptions {
  /** Per-sample data loss of decoded images [B, H, W, C] -> [B]. */
  likelihood: ImageLoss;
  /** Weight of the KL and prior terms (default 1). */
  beta?: number;
  klVariant?: KlVariant;
  /** Add the top level's negative entropy to the prior part (default true, see above). */
  topEntropy?: boolean;
  signal?: AbortSignal;
  /** Sees the decoded one-step predictions D(x_hat(z_{T_s})) (disposed after: tf.keep to hold them). */
  onImages?: (images: tf.Tensor4D) => void;
}

export interface ObjectiveParts {
  total: tf.Tensor1D;
  likelihood: tf.Tensor1D;
  kl: tf.Tensor1D;
  prior: tf.Tensor1D;
}

/**
 * The loss and its parts per sample ([B] each). `denoiser` is the prior's (possibly call-counting)
 * denoiser; `prior` supplies decode. Differentiable with respect to `params`.
 */
export function vipaintObjective(
  prior: DiffusionPrior,
  denoiser: Denoiser,
  config: VipaintConfig,
  params: VipaintParams,
  draws: ObjectiveDraws,
  options: ObjectiveOptions,
): ObjectiveParts {
  const beta = options.beta ?? 1;
  if (!(Number.isFinite(beta) && beta >= 0))
    throw new Error(`vipaint: beta must be a finite number >= 0, got ${beta}`);
  const variant = options.klVariant ?? 'correct';
  const schedule = denoiser.schedule;
  const kp = config.keypoints;
  const ts = kp[kp.length - 1] as number;
  return tf.tidy(() => {
    const zTe = sampleTop(schedule, config, params, draws.hierarchy.top);
    const walk = walkHierarchy(denoiser, config, params, zTe, draws.hierarchy.steps, {
      signal: options.signal,
      onLevel: (l) => gaussianKl(l.qMean, l.zbar, l.logTau, l.priorStd, variant),
    });
    options.signal?.throwIfAborted();
    const x0 = denoiser.predictX0(walk.zTs, ts);
    const images = prior.decode(x0);
    options.onImages?.(images);
    const likelihood = options.likelihood(images);
    const b = zTe.shape[0];
    if (likelihood.shape.length !== 1 || likelihood.shape[0] !== b) {
      throw new Error(
        `vipaint: the likelihood must return one value per sample ([${b}]), got [${likelihood.shape}]`,
      );
    }
    const kl = walk.perLevel.reduce((acc, k) => tf.add(acc, k), tf.zeros([b])) as tf.Tensor1D;
    options.signal?.throwIfAborted();
    let priorPart = priorTerm(denoiser, kp[0] as number, zTe, draws.prior, variant);
    if (options.topEntropy ?? true) {
      const negEntropy = tf.neg(tf.sum(tf.mul(levelSlice(params.logTau2, 0), 0.5)));
      priorPart = tf.add(priorPart, negEntropy) as tf.Tensor1D;
    }
    const total = tf.add(likelihood, tf.mul(tf.add(kl, priorPart), beta)) as tf.Tensor1D;
    return { total, likelihood, kl, prior: priorPart };
  });
}
