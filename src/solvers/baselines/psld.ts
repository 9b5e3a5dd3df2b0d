/**
 * PSLD, Posterior Sampling with Latent Diffusion (Rout et al. 2023): latent DPS plus a "gluing"
 * term that pulls x_hat towards the encoder-decoder's shared embedding, both differentiated with
 * respect to z_t through the denoiser, the decoder and the encoder:
 *
 *   loss(z_t) = omega * ||y - A(D(x_hat))||_2 + gamma * ||E(A^T y + (I - A^T A) D(x_hat)) - x_hat||_2
 *   z_s       = DDIM step(z_t, x_hat) - grad_{z_t} loss(z_t)
 *
 * The gluing target A^T y + (I - A^T A) D(x_hat) keeps the observed content from y and the rest
 * from the current decoded estimate. For inpainting A^T A = diag(mask) is a projection, so the
 * target is exactly "y on observed pixels, D(x_hat) elsewhere". For a general linear A (SR, blur) we
 * use the same formula literally with the operator's adjoint, as the PSLD code does for its linear
 * operators; it is then not an exact projection onto {x : A x = y} (that would need (A A^T)^-1).
 *
 * Choices: norms per sample, summed over the batch (see dps.ts); 500 levels, DDIM eta = 0 (the
 * Stable-Diffusion DDIM default PSLD builds on); omega = gamma = 0.2 (the paper's appendix E.2:
 * "scaling hyperparameters set to 0.2 as opposed to 0.1 in the original paper"). PSLD is defined
 * for latent priors only; a pixel prior (E = D = identity) makes the gluing term equal to
 * ||(A^T y - A^T A x_hat)||, which we allow but do not recommend.
 * Network calls: `steps` gradient calls.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from '../../physics/operator.js';
import type { DiffusionPrior } from '../prior.js';
import { sampleCount, type CommonSolverOptions, type SolverContext } from './common.js';
import { runGuidedSampler, type ExtraLoss } from './dps.js';

export interface PsldOptions extends CommonSolverOptions {
  /** Reverse steps (network calls), default 500. */
  steps?: number;
  /** Step size omega of the measurement norm, default 0.2. */
  scale?: number;
  /** Step size gamma of the gluing norm, default 0.2. */
  gamma?: number;
  /** DDIM stochasticity (std convention), default 0. */
  eta?: number;
}

export const PSLD_DEFAULTS = { steps: 500, scale: 0.2, gamma: 0.2, eta: 0 } as const;

/**
 * weight * ||E(A^T y + (I - A^T A) D(x_hat)) - x_hat||_2 per sample, as an extra loss for
 * dps.ts `guidedGradient` (whose loss the sampler multiplies by omega: weight = gamma / omega).
 */
export function psldGluingTerm(prior: DiffusionPrior, op: MeasurementOperator, weight: number): ExtraLoss {
  return (x0, image) =>
    tf.tidy(() => {
      const observed = op.adjoint(op.y);
      const target = tf.add(observed, tf.sub(image, op.adjoint(op.forward(image)))) as tf.Tensor4D;
      const diff = tf.sub(prior.encode(target), x0);
      const norm = tf.sqrt(tf.add(tf.sum(tf.square(diff), [1, 2, 3]), 1e-12));
      return tf.mul(norm, weight) as tf.Tensor1D;
    });
}

export async function psld(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: PsldOptions,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  const scale = opts.scale ?? PSLD_DEFAULTS.scale;
  const gamma = opts.gamma ?? PSLD_DEFAULTS.gamma;
  if (!(scale > 0)) throw new Error(`PSLD: scale must be > 0, got ${scale}`);
  if (!(gamma >= 0)) throw new Error(`PSLD: gamma must be >= 0, got ${gamma}`);
  return runGuidedSampler(
    prior,
    op,
    {
      steps: opts.steps ?? PSLD_DEFAULTS.steps,
      scale,
      eta: opts.eta ?? PSLD_DEFAULTS.eta,
      samples: sampleCount(opts, 'PSLD'),
      method: 'PSLD',
      extra: gamma > 0 ? psldGluingTerm(prior, op, gamma / scale) : undefined,
    },
    ctx,
  );
}
