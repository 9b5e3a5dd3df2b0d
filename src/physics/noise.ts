/**
 * Additive Gaussian measurement noise, y = A(x) + sigma_y · n with n ~ N(0, I) drawn from the
 * seeded JS generator (so a seed gives the same y on every backend).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/random.js';

/**
 * Return `clean + sigmaY * noise` (a new tensor; `clean` is not disposed). With `mask`, noise is
 * only added where the mask is non-zero (unobserved entries stay exactly 0). Draws no numbers when
 * sigmaY is 0.
 */
export function addMeasurementNoise(
  clean: tf.Tensor4D,
  sigmaY: number,
  rng: Rng,
  mask?: tf.Tensor4D,
): tf.Tensor4D {
  if (!(sigmaY >= 0) || !Number.isFinite(sigmaY))
    throw new Error(`sigmaY must be a finite number >= 0, got ${sigmaY}`);
  if (sigmaY === 0) return tf.clone(clean);
  return tf.tidy(() => {
    const noise = rng.normalTensor<tf.Tensor4D>([...clean.shape]);
    const scaled = tf.mul(noise, sigmaY);
    return tf.add(clean, mask ? tf.mul(scaled, mask) : scaled);
  });
}

/** Throw unless x is [N, H, W, C] with the given H, W, C (any N >= 1). */
export function checkImageShape(
  x: tf.Tensor,
  shape: readonly [number, number, number],
  who: string,
): asserts x is tf.Tensor4D {
  const s = x.shape;
  if (s.length !== 4 || s[1] !== shape[0] || s[2] !== shape[1] || s[3] !== shape[2] || (s[0] ?? 0) < 1) {
    throw new Error(`${who}: expected an [N, ${shape.join(', ')}] tensor, got [${s.join(', ')}]`);
  }
}

/** Validate sigmaY for operator constructors. */
export function checkSigmaY(sigmaY: number, who: string): number {
  if (!Number.isFinite(sigmaY) || sigmaY < 0)
    throw new Error(`${who}: sigmaY must be a finite number >= 0, got ${sigmaY}`);
  return sigmaY;
}
