/**
 * The "replacement" trick shared by Blended and RePaint (and usable by custom chains): before each
 * reverse step from level t, the observed part of the current sample is replaced by a fresh
 * forward-noised copy of the observation at the same level,
 *
 *   z_t <- m * (alpha_t y0 + sigma_t eps) + (1 - m) * z_t,     eps ~ N(0, I) fresh each time,
 *
 * and after the last step (at the clean level) by y0 itself, so observed entries end exactly on y.
 *
 * Pixel priors: m is the operator's mask and y0 = y. Latent priors: m is the mask pooled to the
 * latent grid (a latent element counts as observed when its whole f x f pixel footprint is, or
 * with the 'majority' rule half of it; common.ts `maskInPriorSpace`) and y0 = E(y), the encoding
 * of the masked observation. With a real VAE the encoder's receptive field mixes in the zeros of
 * nearby missing pixels, so latent replacement is only approximately consistent near the mask's
 * edge; the decoded result is NOT pasted with y in pixel space (the methods are compared as
 * published).
 *
 * With measurement noise (sigma_y > 0) the replacement uses the noisy y as if it were clean: hard
 * replacement has no notion of noise, so observed pixels end on the noisy observation.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from '../../physics/operator.js';
import { qSample } from '../../sampling/forward.js';
import type { NoiseSchedule, TimeOrLevel } from '../../schedules/types.js';
import type { Rng } from '../../util/random.js';
import type { DiffusionPrior } from '../prior.js';
import { maskInPriorSpace, requireMask, type LatentMaskRule } from './common.js';

export class Replacement {
  private constructor(
    /** Observed = 1, in the prior's space, batch 1. */
    readonly mask: tf.Tensor4D,
    /** The observation in the prior's space, batch 1. */
    readonly known: tf.Tensor4D,
    private readonly schedule: NoiseSchedule,
  ) {}

  static async create(
    prior: DiffusionPrior,
    op: MeasurementOperator,
    method: string,
    rule: LatentMaskRule = 'all',
  ): Promise<Replacement> {
    const pixelMask = requireMask(op, method);
    const mask = maskInPriorSpace(prior, pixelMask, method, rule);
    const total = tf.sum(mask);
    const observed = (await total.data())[0] as number;
    total.dispose();
    if (!(observed > 0)) {
      mask.dispose();
      throw new Error(
        `${method}: no element of the prior's ${prior.space} space is ${rule === 'all' ? 'fully' : 'mostly'} observed by the mask` +
          (prior.space === 'latent' && rule === 'all' ? " (latentMask: 'majority' relaxes this)" : ''),
      );
    }
    const known = prior.space === 'pixel' ? tf.clone(op.y) : prior.encode(op.y);
    return new Replacement(mask, known, prior.denoiser.schedule);
  }

  /** m * q_sample(y0, level) + (1 - m) * z; a new tensor (z is not disposed). */
  apply(z: tf.Tensor4D, level: TimeOrLevel, rng: Rng): tf.Tensor4D {
    const noise = rng.normalTensor<tf.Tensor4D>(z.shape as number[]);
    try {
      return tf.tidy(() => {
        const noisy = qSample(
          this.schedule,
          tf.tile(this.known, [z.shape[0], 1, 1, 1]) as tf.Tensor4D,
          level,
          noise,
        );
        return tf.add(tf.mul(noisy, this.mask), tf.mul(z, tf.sub(1, this.mask))) as tf.Tensor4D;
      });
    } finally {
      noise.dispose();
    }
  }

  dispose(): void {
    this.mask.dispose();
    this.known.dispose();
  }
}
