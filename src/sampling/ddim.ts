/**
 * The DDIM step (Song et al. 2021a; the paper's Eq. 22-24) from time t down to any less noisy s:
 *
 *   x_hat = (z_t - sigma_t eps_hat) / alpha_t
 *   std   = eta * sqrt(sigma_s^2 sigma_{t|s}^2 / sigma_t^2)      (eta times the posterior std)
 *   z_s   = alpha_s x_hat + sqrt(sigma_s^2 - std^2) eps_hat + std * noise
 *
 * On a VP schedule std^2 = eta^2 (1 - abar_s)/(1 - abar_t) (1 - abar_t/abar_s), the DDIM / CompVis
 * rule. Written with (alpha, sigma) it applies unchanged to VE/EDM. eta = 0 is deterministic;
 * eta = 1 gives the ancestral DDPM posterior q(z_s | z_t, x_hat) exactly (mean and variance).
 *
 * Two eta conventions exist and VIPaint uses both (checked in the authors' h_posterior.py):
 * - 'std' (default; DDIM, CompVis, diffusers): std = eta * posterior std. The authors' refinement
 *   sampler below T_s uses this one.
 * - 'variance' (the paper's Eq. 23 as printed): variance = eta * posterior variance, i.e.
 *   std = sqrt(eta) * posterior std. The authors' prior steps BETWEEN keypoints (p_theta in the KL
 *   terms and the tau initialisation, docs/method.md section 9) use this one.
 * The two agree at eta = 0 and eta = 1.
 */
import * as tf from '@tensorflow/tfjs';
import { transitionBetween } from '../schedules/base.js';
import type { NoiseSchedule, TimeOrLevel } from '../schedules/types.js';
import { addNoise, predictionPair, stepLevels } from './step-common.js';

export interface DdimCoefficients {
  /** Mean = coefZt z_t + coefX0 x_hat (eps_hat expressed through z_t and x_hat). */
  coefZt: number;
  coefX0: number;
  /** Equivalently mean = alphaS x_hat + coefEps eps_hat. */
  alphaS: number;
  coefEps: number;
  /** Standard deviation of the step's Gaussian. */
  std: number;
}

/** Coefficients of the DDIM step p(z_s | z_t) = N(coefZt z_t + coefX0 x_hat, std^2 I). */
export type EtaConvention = 'std' | 'variance';

export function ddimStepMeanStd(
  schedule: NoiseSchedule,
  t: TimeOrLevel,
  s: TimeOrLevel,
  eta: number,
  etaScales: EtaConvention = 'std',
): DdimCoefficients {
  if (!(eta >= 0)) throw new Error(`ddim: eta must be >= 0, got ${eta}`);
  const { lt, ls } = stepLevels(schedule, t, s, 'ddim');
  const { sigmaTS2 } = transitionBetween(ls, lt);
  const posteriorVar = (ls.sigma * ls.sigma * sigmaTS2) / (lt.sigma * lt.sigma);
  const std = (etaScales === 'variance' ? Math.sqrt(eta) : eta) * Math.sqrt(posteriorVar);
  const dir2 = ls.sigma * ls.sigma - std * std;
  if (dir2 < -1e-12 * Math.max(1, ls.sigma * ls.sigma)) {
    throw new Error(`ddim: eta ${eta} too large for this step (std ${std} exceeds sigma_s ${ls.sigma})`);
  }
  const coefEps = Math.sqrt(Math.max(0, dir2));
  const coefZt = coefEps / lt.sigma;
  return { coefZt, coefX0: ls.alpha - coefZt * lt.alpha, alphaS: ls.alpha, coefEps, std };
}

export interface DdimStepInput {
  zt: tf.Tensor;
  /** Predicted noise eps_hat(z_t, t). */
  eps?: tf.Tensor;
  /** Predicted clean sample x_hat(z_t, t). With eps, both are used as given (e.g. a modified x_hat). */
  x0?: tf.Tensor;
  t: TimeOrLevel;
  s: TimeOrLevel;
  eta: number;
  /** Whether eta scales the std (DDIM, default) or the variance (the paper's Eq. 23). */
  etaScales?: EtaConvention;
  /** Standard normal noise of z_t's shape; required when the step's std > 0. */
  noise?: tf.Tensor;
}

/** One DDIM step: z_s = alpha_s x_hat + sqrt(sigma_s^2 - std^2) eps_hat + std noise. Differentiable. */
export function ddimStep(schedule: NoiseSchedule, input: DdimStepInput): tf.Tensor {
  const c = ddimStepMeanStd(schedule, input.t, input.s, input.eta, input.etaScales);
  const { lt } = stepLevels(schedule, input.t, input.s, 'ddim');
  return tf.tidy(() => {
    const { eps, x0 } = predictionPair(lt, input.zt, input.eps, input.x0);
    const mean = tf.add(tf.mul(x0, c.alphaS), tf.mul(eps, c.coefEps));
    return addNoise(mean, c.std, input.noise, 'ddim');
  });
}
