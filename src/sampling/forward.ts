/**
 * The forward (noising) process, for algorithms that move up in noise: SDEdit-style starts,
 * blending (noisy observation at the current level), RePaint's time travel, the VIPaint prior term.
 *
 *   qSample: z_t = alpha_t x0 + sigma_t noise                      ~ q(z_t | x0)
 *   qStep:   z_t = alpha_{t|s} z_s + sigma_{t|s} noise  (s < t)     ~ q(z_t | z_s)   (Eq. 13-15)
 */
import * as tf from '@tensorflow/tfjs';
import { transitionBetween } from '../schedules/base.js';
import type { NoiseSchedule, TimeOrLevel } from '../schedules/types.js';
import { resolveLevel } from './step-common.js';

export function qSample<T extends tf.Tensor>(schedule: NoiseSchedule, x0: T, t: TimeOrLevel, noise: T): T {
  const { alpha, sigma } = resolveLevel(schedule, t);
  return tf.tidy(() => tf.add(tf.mul(x0, alpha), tf.mul(noise, sigma))) as T;
}

export function qStep<T extends tf.Tensor>(
  schedule: NoiseSchedule,
  zs: T,
  s: TimeOrLevel,
  t: TimeOrLevel,
  noise: T,
): T {
  const ls = resolveLevel(schedule, s);
  const lt = resolveLevel(schedule, t);
  if (!(ls.sigma * lt.alpha < lt.sigma * ls.alpha)) {
    throw new Error(`qStep: t must be noisier than s (got s=${JSON.stringify(s)}, t=${JSON.stringify(t)})`);
  }
  const { alphaTS, sigmaTS2 } = transitionBetween(ls, lt);
  return tf.tidy(() => tf.add(tf.mul(zs, alphaTS), tf.mul(noise, Math.sqrt(sigmaTS2)))) as T;
}
