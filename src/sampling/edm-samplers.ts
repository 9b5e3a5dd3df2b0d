/**
 * EDM samplers (Karras et al. 2022) for schedules with alpha = 1 (EDM, VE), integrating the
 * probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma over a decreasing list of sigmas:
 *
 * - 'euler': x_{i+1} = x_i + (sigma_{i+1} - sigma_i) d_i, d_i = (x_i - D(x_i; sigma_i)) / sigma_i;
 * - 'heun' (Algorithm 1): the Euler step corrected with the slope at its end point, except when
 *   the end point is sigma = 0 (where the slope is undefined; Algorithm 1 skips it on its last step).
 *
 * Stochasticity of Algorithm 2: with sChurn > 0, for sigma_i in [sTmin, sTmax] the level is first
 * raised to sigma_hat = sigma_i (1 + gamma), gamma = min(sChurn / N, sqrt(2) - 1), by adding noise
 * of std sqrt(sigma_hat^2 - sigma_i^2) * sNoise; then the step starts from sigma_hat.
 *
 * Network calls: Euler N, Heun 2N - 1 when the last sigma is 0.
 */
import * as tf from '@tensorflow/tfjs';
import { runSteps } from './stepping.js';
import type { Denoiser } from '../networks/denoiser.js';
import type { NoiseSchedule } from '../schedules/types.js';
import type { Rng } from '../util/random.js';

export interface EdmLoopOptions {
  /** Decreasing noise levels; the last is usually 0 (EdmSchedule.sigmas gives the rho grid). */
  sigmas: number[];
  solver?: 'euler' | 'heun';
  sChurn?: number;
  sTmin?: number;
  sTmax?: number;
  sNoise?: number;
  /** Needed when sChurn > 0. */
  rng?: Rng;
  labels?: tf.Tensor1D;
  signal?: AbortSignal;
  /** Called after each step with the new sigma and the denoised estimate used by the step (valid during the call). */
  onStep?: (info: { step: number; total: number; sigma: number; x0: tf.Tensor4D }) => void;
  /** Called before each network call. */
  onNetworkCall?: () => void;
}

/** The schedule time at which sigma_t = sigma, for alpha = 1 schedules. */
export function timeForSigma(schedule: NoiseSchedule, sigma: number): number {
  if (schedule.kind === 'edm') return sigma;
  if (schedule.kind === 've') return schedule.timeAtLogSnr(-2 * Math.log(sigma));
  throw new Error('EDM samplers need a schedule with alpha = 1 (edm or ve)');
}

function validateSigmas(sigmas: number[]): void {
  if (sigmas.length < 2) throw new Error('edm sampler: need at least 2 sigmas (start and end)');
  for (let i = 1; i < sigmas.length; i++) {
    if (!((sigmas[i] as number) < (sigmas[i - 1] as number)) || (sigmas[i] as number) < 0) {
      throw new Error(`edm sampler: sigmas must decrease strictly to >= 0, got ${JSON.stringify(sigmas)}`);
    }
  }
}

/**
 * Run the sampler from `x` (already at noise level sigmas[0], e.g. sigmas[0] * N(0, I)) down to
 * the last sigma. `x` is not disposed; the result is a new tensor.
 */
export function edmSampleLoop(denoiser: Denoiser, x: tf.Tensor4D, options: EdmLoopOptions): tf.Tensor4D {
  return runSteps(edmSampleSteps(denoiser, x, options));
}

/** The same loop as a generator that pauses after every step (see stepping.ts). */
export function* edmSampleSteps(
  denoiser: Denoiser,
  x: tf.Tensor4D,
  options: EdmLoopOptions,
): Generator<void, tf.Tensor4D> {
  const { sigmas, labels, signal, onStep, onNetworkCall } = options;
  validateSigmas(sigmas);
  const schedule = denoiser.schedule;
  const solver = options.solver ?? 'heun';
  const sChurn = options.sChurn ?? 0;
  const sTmin = options.sTmin ?? 0;
  const sTmax = options.sTmax ?? Infinity;
  const sNoise = options.sNoise ?? 1;
  if (sChurn > 0 && !options.rng) throw new Error('edm sampler: sChurn > 0 needs an rng');
  const n = sigmas.length - 1;

  const denoise = (z: tf.Tensor4D, sigma: number): tf.Tensor4D => {
    onNetworkCall?.();
    return denoiser.predictX0(z, timeForSigma(schedule, sigma), labels);
  };

  let cur = tf.clone(x);
  try {
    for (let i = 0; i < n; i++) {
      signal?.throwIfAborted();
      const sigmaCur = sigmas[i] as number;
      const sigmaNext = sigmas[i + 1] as number;
      const gamma =
        sChurn > 0 && sigmaCur >= sTmin && sigmaCur <= sTmax ? Math.min(sChurn / n, Math.SQRT2 - 1) : 0;
      const sigmaHat = sigmaCur * (1 + gamma);
      const churnNoise =
        gamma > 0 && options.rng ? options.rng.normalTensor<tf.Tensor4D>(cur.shape as number[]) : undefined;
      const { out, used } = tf.tidy(() => {
        const xHat = churnNoise
          ? (tf.add(
              cur,
              tf.mul(churnNoise, Math.sqrt(sigmaHat * sigmaHat - sigmaCur * sigmaCur) * sNoise),
            ) as tf.Tensor4D)
          : cur;
        const d0 = denoise(xHat, sigmaHat);
        const slope = tf.div(tf.sub(xHat, d0), sigmaHat);
        const euler = tf.add(xHat, tf.mul(slope, sigmaNext - sigmaHat)) as tf.Tensor4D;
        if (solver === 'euler' || sigmaNext === 0) return { out: euler, used: d0 };
        const d1 = denoise(euler, sigmaNext);
        const slope1 = tf.div(tf.sub(euler, d1), sigmaNext);
        const heun = tf.add(xHat, tf.mul(tf.add(slope, slope1), 0.5 * (sigmaNext - sigmaHat))) as tf.Tensor4D;
        return { out: heun, used: d1 };
      });
      churnNoise?.dispose();
      cur.dispose();
      cur = out;
      try {
        onStep?.({ step: i + 1, total: n, sigma: sigmaNext, x0: used });
      } finally {
        used.dispose();
      }
      yield;
    }
    return cur;
  } catch (e) {
    cur.dispose();
    throw e;
  }
}
