/**
 * Conversions between what a diffusion network can predict, for z = alpha x0 + sigma eps:
 *
 *   eps (noise):  x0 = (z - sigma eps) / alpha            eps = (z - alpha x0) / sigma
 *   v (Salimans & Ho 2022, v = alpha eps - sigma x0):
 *                 x0 = (alpha z - sigma v) / (alpha^2 + sigma^2),  eps = (sigma z + alpha v) / (alpha^2 + sigma^2)
 *
 * For VP alpha^2 + sigma^2 = 1 and the v formulas reduce to the usual x0 = alpha z - sigma v,
 * eps = sigma z + alpha v; for VE / EDM alpha = 1 and x0 = z - sigma eps. The general form keeps
 * every conversion an exact inverse of the others on any schedule.
 *
 * alpha and sigma are numbers (one time for the whole batch) or tensors broadcastable against z
 * (per-sample times: shape [B, 1, 1, 1], see `levelCoefficients`). All functions are
 * differentiable and free their intermediates.
 */
import * as tf from '@tensorflow/tfjs';
import type { NoiseSchedule } from '../schedules/types.js';

export type Coef = number | tf.Tensor;
export type Parameterization = 'eps' | 'x0' | 'v';

export function epsToX0<T extends tf.Tensor>(z: T, eps: T, alpha: Coef, sigma: Coef): T {
  return tf.tidy(() => tf.div(tf.sub(z, tf.mul(eps, sigma)), alpha)) as T;
}

export function x0ToEps<T extends tf.Tensor>(z: T, x0: T, alpha: Coef, sigma: Coef): T {
  return tf.tidy(() => tf.div(tf.sub(z, tf.mul(x0, alpha)), sigma)) as T;
}

function norm2(alpha: Coef, sigma: Coef): Coef {
  if (typeof alpha === 'number' && typeof sigma === 'number') return alpha * alpha + sigma * sigma;
  return tf.add(tf.square(alpha), tf.square(sigma));
}

export function vToX0<T extends tf.Tensor>(z: T, v: T, alpha: Coef, sigma: Coef): T {
  return tf.tidy(() => tf.div(tf.sub(tf.mul(z, alpha), tf.mul(v, sigma)), norm2(alpha, sigma))) as T;
}

export function vToEps<T extends tf.Tensor>(z: T, v: T, alpha: Coef, sigma: Coef): T {
  return tf.tidy(() => tf.div(tf.add(tf.mul(z, sigma), tf.mul(v, alpha)), norm2(alpha, sigma))) as T;
}

/** v = alpha eps - sigma x0, with x0 implied by (z, eps). */
export function epsToV<T extends tf.Tensor>(z: T, eps: T, alpha: Coef, sigma: Coef): T {
  return tf.tidy(() => {
    const x0 = epsToX0(z, eps, alpha, sigma);
    return tf.sub(tf.mul(eps, alpha), tf.mul(x0, sigma));
  }) as T;
}

/** v = alpha eps - sigma x0, with eps implied by (z, x0). */
export function x0ToV<T extends tf.Tensor>(z: T, x0: T, alpha: Coef, sigma: Coef): T {
  return tf.tidy(() => {
    const eps = x0ToEps(z, x0, alpha, sigma);
    return tf.sub(tf.mul(eps, alpha), tf.mul(x0, sigma));
  }) as T;
}

/** The eps implied by a network output of the given parameterization. */
export function outputToEps<T extends tf.Tensor>(
  kind: Parameterization,
  z: T,
  out: T,
  alpha: Coef,
  sigma: Coef,
): T {
  if (kind === 'eps') return tf.clone(out);
  if (kind === 'x0') return x0ToEps(z, out, alpha, sigma);
  return vToEps(z, out, alpha, sigma);
}

/** The x0 implied by a network output of the given parameterization. */
export function outputToX0<T extends tf.Tensor>(
  kind: Parameterization,
  z: T,
  out: T,
  alpha: Coef,
  sigma: Coef,
): T {
  if (kind === 'x0') return tf.clone(out);
  if (kind === 'eps') return epsToX0(z, out, alpha, sigma);
  return vToX0(z, out, alpha, sigma);
}

/**
 * alpha_t and sigma_t for a time that is one number (returned as numbers) or one time per sample
 * (returned as [B, 1, 1, 1] tensors, for NHWC batches; the caller disposes them). Times are read
 * back to JavaScript because schedules are float64 functions of numbers; they are never
 * differentiated.
 */
export function levelCoefficients(
  schedule: NoiseSchedule,
  t: number | tf.Tensor1D,
): { alpha: Coef; sigma: Coef } {
  if (typeof t === 'number') return schedule.level(t);
  const ts = Array.from(t.dataSync());
  const levels = ts.map((v) => schedule.level(v));
  return {
    alpha: tf.tensor4d(
      levels.map((l) => l.alpha),
      [ts.length, 1, 1, 1],
    ),
    sigma: tf.tensor4d(
      levels.map((l) => l.sigma),
      [ts.length, 1, 1, 1],
    ),
  };
}
