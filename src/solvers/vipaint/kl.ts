/**
 * KL divergence between two Gaussians with diagonal covariance, summed per sample:
 *
 *   KL(N(m1, s1^2) || N(m2, s2^2)) = sum_d [ log(s2/s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2 ]
 *
 * 'authors' reproduces the public VIPaint code's helper (docs/method.md section 9), whose mean term is
 * (s2^2 / 2)(m1 - m2)^2 instead of (m1 - m2)^2 / (2 s2^2) (an operator-precedence slip). It is only
 * there to compare with the published numbers; 'correct' is the default everywhere.
 *
 * Standard deviations are given as tensors broadcastable against the means (per-element tau) or as
 * numbers (the prior step's std). Reduction is a SUM over all non-batch elements, so that the KL
 * terms and the likelihood (also a sum) weigh as in the true ELBO; the authors' code averages both
 * over elements instead, which rescales beta (not offered).
 */
import * as tf from '@tensorflow/tfjs';
import { sumPerSample } from '../likelihood.js';

export type KlVariant = 'correct' | 'authors';

/** Per-sample KL, shape [B]. `logS1` is log s1 (so that a log-variance parameter needs no exp/log round trip). */
export function gaussianKl(
  m1: tf.Tensor,
  m2: tf.Tensor,
  logS1: tf.Tensor,
  s2: number,
  variant: KlVariant = 'correct',
): tf.Tensor1D {
  if (!(s2 > 0)) throw new Error(`gaussianKl: the second std must be > 0, got ${s2}`);
  return tf.tidy(() => {
    const d2 = tf.square(tf.sub(m1, m2));
    const s1sq = tf.exp(tf.mul(logS1, 2));
    const meanTerm = variant === 'authors' ? tf.mul(d2, (s2 * s2) / 2) : tf.div(d2, 2 * s2 * s2);
    const perElement = tf.add(
      tf.add(tf.sub(Math.log(s2), logS1), tf.div(s1sq, 2 * s2 * s2)),
      tf.sub(meanTerm, 0.5),
    );
    // Broadcast to the means' full shape before summing (logS1 may be [1, ...] for a batch B).
    return sumPerSample(tf.add(perElement, tf.zerosLike(d2)));
  });
}

/** The mean-difference part of the KL for equal variances s^2: (m1 - m2)^2 weighted per variant, summed. */
export function equalVarianceKl(diff: tf.Tensor, s: number, variant: KlVariant = 'correct'): tf.Tensor1D {
  if (!(s > 0)) throw new Error(`equalVarianceKl: std must be > 0, got ${s}`);
  const w = variant === 'authors' ? (s * s) / 2 : 1 / (2 * s * s);
  return tf.tidy(() => tf.mul(sumPerSample(tf.square(diff)), w) as tf.Tensor1D);
}
