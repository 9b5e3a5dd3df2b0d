/**
 * RED-diff (Mardani et al. 2024, "A variational perspective on solving inverse problems with
 * diffusion models"): fit the mean mu of q(x0) = N(mu, 0) (pixel priors: x0 itself; latent priors:
 * the code z0, decoded by D) with Adam on
 *
 *   loss(mu) = obsWeight * mean_j (y - A(D(mu)))_j^2 / 2
 *            + lambda * w(t) * mean_i [ sg(eps_theta(z_t, t) - eps) * mu ]_i,
 *   z_t = alpha_t mu + sigma_t eps, eps ~ N(0, I) fresh at every iteration,
 *
 * one network call per iteration and NO gradient through the network (sg = stop-gradient: the
 * score-distillation form of the denoising prior term). w(t) = sigma_t / alpha_t = 1/sqrt(SNR(t))
 * (the authors' default 'linear' weighting of the inverse SNR). Times:
 * - 'annealed' (RED-diff): one iteration per level of the grid, from the noisiest to the cleanest;
 * - 'random' (RED-diff-V, the variational bound itself): each iteration draws a level uniformly from
 *   the same grid.
 *
 * Choices (authors' code, NVlabs/RED-diff `algos/reddiff.py` and `_configs/algo/reddiff.yaml`;
 * docs/method.md "Baselines"): lambda per prior kind: pixel priors 50 (the VIPaint paper's
 * appendix E.2 for its pixel EDM comparison: "increased the prior regularization weight from 0.25
 * to 50"), latent priors 0.25 (the RED-diff authors' `grad_term_weight: 0.25`; at 50 the prior
 * gradient is 10-2500x the data gradient on the embedded LDM and the samples ignore y), obsWeight = 1, Adam lr 0.1 with betas (0.9, 0.99),
 * sigma_x0 = 0 (q is a point mass; option sigmaX0), 1000 iterations (the paper's Table 5: 1000
 * calls), means taken per sample and summed over the batch (the N samples are N independent fits
 * that differ by their noise draws), mu initialised at the pseudo-inverse A^+ y (the authors' H_pinv; encoded for latent
 * priors). The loss has no 1/sigma_y^2: the authors fold it into obsWeight; the Gaussian form
 * sum_j (y - A x)_j^2 / (2 sigma_y^2) is obtained with obsWeight = m / sigma_y^2 (m entries of y).
 * "RED-diff-V" follows the brief (random times = the variational bound itself). The
 * paper's appendix calls it "Red-Diff (Var)"; the authors' repository also has a variant that
 * learns a std of q (`sds_var.py`, written for unconditional generation), which is not this.
 * Network calls: `steps` forward calls.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from '../../physics/operator.js';
import type { DiffusionPrior } from '../prior.js';
import {
  AdamState,
  checkCompatible,
  decodeClip,
  positiveInt,
  pseudoInverse,
  repeatBatch,
  sampleCount,
  withState,
  yieldToLoop,
  type CommonSolverOptions,
  type SolverContext,
} from './common.js';
import { emitPreview } from '../../io/preview.js';
import { timeGrid } from './schedule-grid.js';

export interface RedDiffOptions extends CommonSolverOptions {
  /** Iterations = network calls, default 1000. */
  steps?: number;
  /** Prior weight lambda, default 50 (pixel priors) / 0.25 (latent priors). */
  lambda?: number;
  /** Weight of the data term, default 1. */
  obsWeight?: number;
  /** Adam learning rate, default 0.1. */
  lr?: number;
  /** 'annealed' (RED-diff, default) or 'random' (RED-diff-V). */
  times?: 'annealed' | 'random';
  /**
   * Fixed std of q(x0) = N(mu, sigmaX0^2 I), the authors' `sigma_x0` (default 0: a point mass).
   * With sigmaX0 > 0 both terms are evaluated at x0 = mu + sigmaX0 n (fresh n each iteration).
   */
  sigmaX0?: number;
}

export const RED_DIFF_DEFAULTS = {
  steps: 1000,
  lambda: 50,
  latentLambda: 0.25,
  obsWeight: 1,
  lr: 0.1,
  times: 'annealed',
  sigmaX0: 0,
} as const;

export async function redDiff(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: RedDiffOptions,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  const mode = opts.times ?? RED_DIFF_DEFAULTS.times;
  const method = mode === 'random' ? 'RED-diff-V' : 'RED-diff';
  checkCompatible(prior, op, method);
  const steps = positiveInt(opts.steps ?? RED_DIFF_DEFAULTS.steps, 'steps', method);
  const lambda =
    opts.lambda ?? (prior.space === 'latent' ? RED_DIFF_DEFAULTS.latentLambda : RED_DIFF_DEFAULTS.lambda);
  const obsWeight = opts.obsWeight ?? RED_DIFF_DEFAULTS.obsWeight;
  const lr = opts.lr ?? RED_DIFF_DEFAULTS.lr;
  const sigmaX0 = opts.sigmaX0 ?? RED_DIFF_DEFAULTS.sigmaX0;
  if (!(sigmaX0 >= 0)) throw new Error(`${method}: sigmaX0 must be >= 0, got ${sigmaX0}`);
  const n = sampleCount(opts, method);
  const schedule = prior.denoiser.schedule;
  const grid = timeGrid(schedule, steps);
  const shape: [number, number, number, number] = [n, ...prior.latentShape];
  const perSample = prior.latentShape.reduce((a, b) => a * b, 1);
  const perMeasurement = op.outputShape.reduce((a, b) => a * b, 1);
  const adam = new AdamState(0.9, 0.99);
  const dataGradRaw = tf.grad((mu: tf.Tensor) =>
    tf.tidy(() => {
      const r = tf.sub(op.y, op.forward(prior.decode(mu as tf.Tensor4D)));
      return tf.mul(tf.sum(tf.square(r)), obsWeight / (2 * perMeasurement));
    }),
  );
  const dataGrad = (mu: tf.Tensor4D): tf.Tensor4D => dataGradRaw(mu) as tf.Tensor4D;
  try {
    return await withState(async (state) => {
      const x = await pseudoInverse(op);
      try {
        state.set(
          'mu',
          tf.tidy(() => repeatBatch(prior.space === 'pixel' ? x : prior.encode(x), n)),
        );
      } finally {
        x.dispose();
      }
      for (let k = 0; k < steps; k++) {
        ctx.signal?.throwIfAborted();
        const t = (mode === 'random' ? grid[ctx.rng.int(0, steps)] : grid[steps - 1 - k]) as number;
        const { alpha, sigma } = schedule.level(t);
        const w = lambda * (sigma / alpha);
        const mu = state.get<tf.Tensor4D>('mu');
        // x0 = mu + sigmaX0 n (the authors draw n before the diffusion noise).
        if (sigmaX0 > 0) {
          const n0 = ctx.rng.normalTensor<tf.Tensor4D>(shape);
          state.set(
            'x0',
            tf.tidy(() => tf.add(mu, tf.mul(n0, sigmaX0)) as tf.Tensor4D),
          );
          n0.dispose();
        }
        const x0 = sigmaX0 > 0 ? state.get<tf.Tensor4D>('x0') : mu;
        const eps = ctx.rng.normalTensor<tf.Tensor4D>(shape);
        const zt = tf.tidy(() => tf.add(tf.mul(x0, alpha), tf.mul(eps, sigma)) as tf.Tensor4D);
        ctx.onCalls?.('forward', 1);
        const epsHat = prior.denoiser.predictEps(zt, t);
        // d x0 / d mu = I: both gradients, taken at x0, are the gradients with respect to mu.
        const grad = tf.tidy(
          () => tf.add(tf.mul(tf.sub(epsHat, eps), w / perSample), dataGrad(x0)) as tf.Tensor4D,
        );
        zt.dispose();
        eps.dispose();
        epsHat.dispose();
        const next = adam.step(mu, grad, lr);
        grad.dispose();
        state.set('mu', next);
        emitPreview(ctx.preview, k + 1, steps, () => prior.decode(next));
        ctx.onProgress?.({ step: k + 1, total: steps, phase: 'optimise' });
        await yieldToLoop();
      }
      return decodeClip(prior, state.get<tf.Tensor4D>('mu'));
    });
  } finally {
    adam.dispose();
  }
}

/** RED-diff-V: RED-diff with uniformly random times (the variational bound, no annealing). */
export function redDiffV(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: Omit<RedDiffOptions, 'times'>,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  return redDiff(prior, op, { ...opts, times: 'random' }, ctx);
}
