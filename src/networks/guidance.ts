/**
 * Classifier-free guidance (Ho & Salimans 2022) as a Denoiser wrapper:
 *   eps = eps_uncond + w (eps_cond - eps_uncond),
 * computed with ONE batched network call (conditional and null-class copies of z concatenated
 * along the batch axis). w = 1 is the plain conditional model (one call of the original batch
 * size, no null-class copy), w = 0 the unconditional one.
 *
 * The combination is done in eps space; since x0 = (z - sigma eps)/alpha is affine in eps at fixed
 * (z, t), combining x0 (or v) predictions with the same w gives the same result.
 */
import * as tf from '@tensorflow/tfjs';
import { epsToX0, levelCoefficients } from '../sampling/predictions.js';
import type { Denoiser } from './denoiser.js';

export interface GuidanceOptions {
  /** Guidance scale w (paper: 3 for class-conditional LDMs). */
  scale: number;
  /**
   * Class labels used when a call passes none: one label for the whole batch, or one per sample.
   * Calls that pass labels override them.
   */
  labels?: number | number[];
}

export function withGuidance(base: Denoiser, options: GuidanceOptions): Denoiser {
  if (base.numClasses === undefined) {
    throw new Error('classifier-free guidance needs a class-conditional denoiser (numClasses)');
  }
  const numClasses: number = base.numClasses;
  const w = options.scale;
  if (!Number.isFinite(w)) throw new Error(`guidance scale must be finite, got ${w}`);

  function labelsFor(batch: number, given: tf.Tensor1D | undefined): tf.Tensor1D {
    if (given) {
      if (given.shape[0] !== batch)
        throw new Error(`guidance: ${given.shape[0]} labels for a batch of ${batch}`);
      return given;
    }
    const l = options.labels;
    if (l === undefined)
      throw new Error('guidance: no class labels given (pass labels or set options.labels)');
    const values = typeof l === 'number' ? new Array<number>(batch).fill(l) : l;
    if (values.length !== batch) throw new Error(`guidance: ${values.length} labels for a batch of ${batch}`);
    for (const v of values) {
      if (!(Number.isInteger(v) && v >= 0 && v <= numClasses)) {
        throw new Error(`guidance: label ${v} is not in 0..${numClasses} (${numClasses} = null class)`);
      }
    }
    return tf.tensor1d(values);
  }

  function predictEps(z: tf.Tensor4D, t: number | tf.Tensor1D, labels?: tf.Tensor1D): tf.Tensor4D {
    return tf.tidy(() => {
      const batch = z.shape[0];
      const cond = labelsFor(batch, labels);
      if (w === 1) return base.predictEps(z, t, cond);
      const zz = tf.concat([z, z], 0) as tf.Tensor4D;
      const tt = typeof t === 'number' ? t : (tf.concat([t, t], 0) as tf.Tensor1D);
      const ll = tf.concat([cond, tf.fill([batch], numClasses, cond.dtype)], 0) as tf.Tensor1D;
      const both = base.predictEps(zz, tt, ll);
      const [epsCond, epsUncond] = tf.split(both, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
      return tf.add(epsUncond, tf.mul(tf.sub(epsCond, epsUncond), w)) as tf.Tensor4D;
    });
  }

  return {
    space: base.space,
    parameterization: 'eps',
    schedule: base.schedule,
    numClasses,
    dataShape: base.dataShape,
    predictEps,
    predictX0: (z, t, labels) =>
      tf.tidy(() => {
        const eps = predictEps(z, t, labels);
        const { alpha, sigma } = levelCoefficients(base.schedule, t);
        return epsToX0(z, eps, alpha, sigma);
      }),
  };
}
