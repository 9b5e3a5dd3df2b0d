/**
 * DPS, Diffusion Posterior Sampling (Chung et al. 2023, Algorithm 1), pixel and latent priors:
 *
 *   x_hat = x_hat(z_t, t)                                  (one network call, differentiated)
 *   z_s'  = prior step (z_t, x_hat) down the grid          (DDIM with eta; eta = 1 is ancestral)
 *   z_s   = z_s' - scale * grad_{z_t} || y - A(D(x_hat)) ||_2
 *
 * Choices (the paper's appendix E.2 and docs/method.md section 7 fix steps and scale only):
 * - The gradient is of the plain L2 NORM of the residual (not its square), as in the authors' code
 *   (`torch.linalg.norm(difference)`); the norm is taken PER SAMPLE and summed over the batch, so
 *   every sample gets its own step (the original takes one norm over the whole batch, which couples
 *   the samples' step sizes).
 * - Pixel priors: 1000 levels, scale 5 (the paper's "scale 5 for EDM"; also used for VP pixel
 *   priors), eta = 1, i.e. the ancestral step (DDPM for VP, the VE ancestral rule of docs/method.md
 *   section 1 on the EDM rho grid of 1000 sigmas for EDM; schedule-grid.ts).
 * - Latent priors: 500 levels (respaced), scale 0.5, DDIM eta = 0 (the Stable-Diffusion DDIM
 *   sampler default used by the latent DPS / PSLD code), the gradient flowing through the decoder.
 * - Pixel priors clip x_hat to [-1, 1] before it enters both the likelihood and the step, as the
 *   authors' code does (`clip_denoised=True`: the gradient is zero where x_hat is clipped); the
 *   step's eps is then re-derived from the clipped x_hat (diffusers' DDIM does the same), which for
 *   eta = 1 makes the step exactly DDPM's q(z_s | z_t, clip(x_hat)). Latent priors do not clip
 *   (CompVis DDIM). Option `clipX0` overrides.
 * - The last step goes to the clean level; the result is decoded and clipped to [-1, 1].
 * - Measurement noise does not change the update (DPS's step size absorbs 1 / sigma_y^2).
 * - Option `perceptual`: weight x loss(A(x) masked, y masked) (LPIPS) joins each sample's
 *   residual norm, as in the paper's latent DPS baseline, whose scale is then 2 (docs/method.md
 *   section 7); the latent default scale becomes 2 when it is given.
 * Network calls: `steps` gradient calls.
 */
import * as tf from '@tensorflow/tfjs';
import { denoise } from '../../networks/denoiser.js';
import type { MeasurementOperator } from '../../physics/operator.js';
import { ddimStep, ddimStepMeanStd } from '../../sampling/ddim.js';
import { CLEAN, type TimeOrLevel } from '../../schedules/types.js';
import type { DiffusionPrior } from '../prior.js';
import { perceptualTerm, type PerceptualOption } from '../likelihood.js';
import {
  checkCompatible,
  decodeClip,
  positiveInt,
  residualNorm,
  sampleCount,
  withState,
  yieldToLoop,
  type CommonSolverOptions,
  type SolverContext,
  startNoise,
} from './common.js';
import { timeGrid } from './schedule-grid.js';
import { emitPreview } from '../../io/preview.js';

export interface DpsOptions extends CommonSolverOptions {
  /** Number of reverse steps (network calls). Default: 1000 pixel, 500 latent. */
  steps?: number;
  /** Step size zeta of the likelihood gradient. Default: 5 pixel, 0.5 latent. */
  scale?: number;
  /** DDIM stochasticity (std convention). Default: 1 pixel (ancestral), 0 latent. */
  eta?: number;
  /** Clip x_hat to [-1, 1] (default: true for pixel priors, false for latent ones). */
  clipX0?: boolean;
  /** A perceptual term on the masked images, added to each sample's residual norm. */
  perceptual?: PerceptualOption;
}

export const DPS_DEFAULTS = {
  pixel: { steps: 1000, scale: 5, eta: 1 },
  latent: { steps: 500, scale: 0.5, eta: 0 },
  /** The latent scale with a perceptual term (docs/method.md section 7). */
  latentPerceptualScale: 2,
} as const;

/** An extra per-sample loss term on (x_hat in the prior's space, its decoded image); [N] tensor. */
export type ExtraLoss = (x0: tf.Tensor4D, image: tf.Tensor4D) => tf.Tensor1D;

export interface GuidedGradient {
  /** d/dz_t of sum_b (||y - A(D(x_hat_b))|| + extra_b). */
  grad: tf.Tensor4D;
  /** x_hat (clipped to [-1, 1] when asked). */
  x0: tf.Tensor4D;
  /** The network's eps (not re-derived from a clipped x_hat). */
  eps: tf.Tensor4D;
}

/**
 * One differentiated network call: the prediction pair at z_t and the gradient of the per-sample
 * residual norm (plus `extra`) with respect to z_t, through the denoiser and the decoder. With
 * `clipX0`, x_hat is clipped to [-1, 1] before the loss (and returned clipped).
 */
export function guidedGradient(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  z: tf.Tensor4D,
  t: number,
  extra?: ExtraLoss,
  clipX0 = false,
): GuidedGradient {
  let x0: tf.Tensor4D | undefined;
  let eps: tf.Tensor4D | undefined;
  try {
    const grad = tf.grad((zz: tf.Tensor) => {
      const pred = denoise(prior.denoiser, zz as tf.Tensor4D, t);
      const xHat = clipX0 ? (tf.clipByValue(pred.x0, -1, 1) as tf.Tensor4D) : pred.x0;
      x0 = tf.keep(xHat);
      eps = tf.keep(pred.eps);
      const image = prior.decode(xHat);
      const norms = residualNorm(op, image);
      return tf.sum(extra ? tf.add(norms, extra(xHat, image)) : norms);
    })(z) as tf.Tensor4D;
    if (!x0 || !eps) throw new Error('internal: the guided gradient did not evaluate the network');
    return { grad, x0, eps };
  } catch (e) {
    x0?.dispose();
    eps?.dispose();
    throw e;
  }
}

export interface GuidedSamplerConfig {
  steps: number;
  scale: number;
  eta: number;
  samples: number;
  method: string;
  extra?: ExtraLoss;
  /** Clip x_hat to [-1, 1]; the step then derives eps from the clipped x_hat. */
  clipX0?: boolean;
}

/** The DPS loop shared with PSLD: prior step minus scale times the guided gradient, per level. */
export async function runGuidedSampler(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  cfg: GuidedSamplerConfig,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  checkCompatible(prior, op, cfg.method);
  positiveInt(cfg.steps, 'steps', cfg.method);
  if (!(cfg.scale >= 0)) throw new Error(`${cfg.method}: scale must be >= 0, got ${cfg.scale}`);
  const schedule = prior.denoiser.schedule;
  const times = timeGrid(schedule, cfg.steps).reverse();
  const shape: [number, number, number, number] = [cfg.samples, ...prior.latentShape];
  return withState(async (state) => {
    const top = times[0] as number;
    state.set('z', startNoise(schedule, top, shape, ctx.rng));
    for (let i = 0; i < times.length; i++) {
      ctx.signal?.throwIfAborted();
      const t = times[i] as number;
      const s: TimeOrLevel = i + 1 < times.length ? (times[i + 1] as number) : CLEAN;
      const z = state.get<tf.Tensor4D>('z');
      ctx.onCalls?.('gradient', 1);
      const g = guidedGradient(prior, op, z, t, cfg.extra, cfg.clipX0 ?? false);
      const std = ddimStepMeanStd(schedule, t, s, cfg.eta).std;
      const noise = std > 0 ? ctx.rng.normalTensor<tf.Tensor4D>(shape) : undefined;
      const next = tf.tidy(() => {
        const eps = cfg.clipX0 ? undefined : g.eps;
        const prev = ddimStep(schedule, { zt: z, eps, x0: g.x0, t, s, eta: cfg.eta, noise });
        return tf.sub(prev, tf.mul(g.grad, cfg.scale)) as tf.Tensor4D;
      });
      noise?.dispose();
      emitPreview(ctx.preview, i + 1, times.length, () => prior.decode(g.x0));
      g.grad.dispose();
      g.x0.dispose();
      g.eps.dispose();
      state.set('z', next);
      ctx.onProgress?.({ step: i + 1, total: times.length, phase: 'reverse' });
      await yieldToLoop();
    }
    return decodeClip(prior, state.get<tf.Tensor4D>('z'));
  });
}

export async function dps(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: DpsOptions,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  const d = DPS_DEFAULTS[prior.space];
  const perceptual = opts.perceptual;
  const defaultScale = perceptual && prior.space === 'latent' ? DPS_DEFAULTS.latentPerceptualScale : d.scale;
  return runGuidedSampler(
    prior,
    op,
    {
      steps: opts.steps ?? d.steps,
      scale: opts.scale ?? defaultScale,
      extra: perceptual
        ? (_x0, image) => perceptualTerm(op, image, perceptual.loss, perceptual.weight)
        : undefined,
      eta: opts.eta ?? d.eta,
      samples: sampleCount(opts, 'DPS'),
      method: 'DPS',
      clipX0: opts.clipX0 ?? prior.space === 'pixel',
    },
    ctx,
  );
}
