/**
 * The ancestral step (the paper's Eq. 19-21; Ho et al. 2020 for VP, Song et al. 2021 for VE):
 * p(z_s | z_t) = q(z_s | z_t, x = x_hat(z_t, t)), the forward-process posterior with the clean
 * sample replaced by the network's prediction:
 *
 *   mean = (alpha_{t|s} sigma_s^2 / sigma_t^2) z_t + (alpha_s sigma_{t|s}^2 / sigma_t^2) x_hat
 *   var  = sigma_{t|s}^2 sigma_s^2 / sigma_t^2
 *
 * For VE (alpha = 1): mean = (sigma_s^2/sigma_t^2) z_t + ((sigma_t^2 - sigma_s^2)/sigma_t^2) x_hat and
 * var = (sigma_t^2 - sigma_s^2) sigma_s^2 / sigma_t^2, Eq. 20-21. We use x_hat = z_t - sigma_t eps_hat
 * (the paper's Eq. 3, docs/method.md section 1): this makes the step equal Song et al.'s reverse-diffusion rule
 * z_s = z_t - ((sigma_t^2 - sigma_s^2)/sigma_t) eps_hat + noise. (The paper's line under Eq. 21 writes
 * sqrt(sigma_t^2 - sigma_s^2) in place of sigma_t, which matches neither; we read it as a typo.)
 */
import * as tf from '@tensorflow/tfjs';
import { posteriorBetween } from '../schedules/base.js';
import type { NoiseSchedule, TimeOrLevel } from '../schedules/types.js';
import { addNoise, predictionPair, stepLevels } from './step-common.js';

export interface AncestralCoefficients {
  /** Mean = coefZt z_t + coefX0 x_hat. */
  coefZt: number;
  coefX0: number;
  std: number;
}

export function ancestralStepMeanStd(
  schedule: NoiseSchedule,
  t: TimeOrLevel,
  s: TimeOrLevel,
): AncestralCoefficients {
  const { lt, ls } = stepLevels(schedule, t, s, 'ancestral');
  const p = posteriorBetween(ls, lt);
  return { coefZt: p.meanCoefZt, coefX0: p.meanCoefX, std: Math.sqrt(p.variance) };
}

export interface AncestralStepInput {
  zt: tf.Tensor;
  /** Predicted noise; used to form x_hat when x0 is not given. */
  eps?: tf.Tensor;
  /** Predicted clean sample x_hat(z_t, t). */
  x0?: tf.Tensor;
  t: TimeOrLevel;
  s: TimeOrLevel;
  /** Standard normal noise of z_t's shape; required unless s is the clean level. */
  noise?: tf.Tensor;
}

/** One ancestral step z_s ~ q(z_s | z_t, x_hat). Differentiable. */
export function ancestralStep(schedule: NoiseSchedule, input: AncestralStepInput): tf.Tensor {
  const c = ancestralStepMeanStd(schedule, input.t, input.s);
  const { lt } = stepLevels(schedule, input.t, input.s, 'ancestral');
  return tf.tidy(() => {
    const x0 = input.x0 ?? predictionPair(lt, input.zt, input.eps, undefined).x0;
    const mean = tf.add(tf.mul(input.zt, c.coefZt), tf.mul(x0, c.coefX0));
    return addNoise(mean, c.std, input.noise, 'ancestral');
  });
}
