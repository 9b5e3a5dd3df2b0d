/**
 * The prior term L_{(T_e,T)}(z_{T_e}) of the VIPaint objective (docs/method.md section 3; the paper's
 * appendix C.2, Eq. 38-39): the diffusion loss of z_{T_e} under the prior above T_e,
 *
 *   L = sum_{j=2..M} E_eps KL( q(z_s | z_t, z_{T_e}) || p_theta(z_s | z_t) ),  (s, t) = (g_{j-1}, g_j),
 *
 * on the grid g_0 = T_e < g_1 < ... < g_M of times.ts (every integer step above T_e for a discrete
 * VP schedule; rho = 7 spacing of sigma/alpha for continuous ones), estimated from ONE random
 * transition per sample: j ~ U{2..M}, z_t = alpha_{t|T_e} z_{T_e} + sigma_{t|T_e} eps, and
 *
 *   estimate = (M - 1) * KL_j,
 *
 * which is unbiased because E_j[(M - 1) KL_j] = (M - 1) * (1/(M - 1)) sum_j KL_j. This is the paper's
 * (T - T_e)/2 weight: Kingma et al. (2021, Eq. 13) write the same estimator as
 * (T/2) E[(SNR(s) - SNR(t)) ||x - x_hat||^2], i.e. the 1/2 belongs to the KL below.
 * Across a batch of B samples the indices are stratified (j_b from (u + b/B) mod 1 with one uniform
 * u, as the authors' code does): every j_b is still uniform on its own, so the estimate stays
 * unbiased, with lower variance.
 *
 * p_theta(z_s | z_t) is taken as q(z_s | z_t, z_{T_e} = zhat) (the paper's Eq. 44), where
 * zhat = E[z_{T_e} | z_t] = mean of q(z_{T_e} | z_t, x_hat(z_t, t)) is the network's prediction of
 * z_{T_e} (one call at time t). It has the same variance as q(z_s | z_t, z_{T_e}), so
 *
 *   KL_j = c^2 ||z_{T_e} - zhat||^2 / (2 v) = (1/2)(SNR'(s) - SNR'(t)) ||z_{T_e} - zhat||^2,
 *
 * with c = alpha_{s|T_e} sigma_{t|s}^2 / sigma_{t|T_e}^2, v = sigma_{t|s}^2 sigma_{s|T_e}^2 / sigma_{t|T_e}^2 and
 * SNR'(u) = alpha_{u|T_e}^2 / sigma_{u|T_e}^2 (z_{T_e} playing the data). Its mean equals the plain
 * ancestral prior step's mean exactly (q(z_s | z_t, x_hat) averaged over z_{T_e} | z_t, x_hat).
 * Choice: the paper's Eq. 45 writes zhat = (z_t - sigma_{t|T_e} eps_hat)/alpha_{t|T_e}; the exact
 * conditional mean has sigma_{t|T_e}^2 / sigma_t in place of sigma_{t|T_e}, which we use.
 * The forward process always starts from the schedule's level at T_e (not from tau, as the
 * authors' code does), so that the variances match and the term is the weighted squared error above.
 */
import * as tf from '@tensorflow/tfjs';
import type { Denoiser } from '../../networks/denoiser.js';
import { posteriorBetween, transitionBetween } from '../../schedules/base.js';
import type { NoiseLevel, NoiseSchedule } from '../../schedules/types.js';
import type { Rng } from '../../util/random.js';
import { sumPerSample } from '../likelihood.js';
import type { KlVariant } from './kl.js';

/** The random part of one prior-term estimate for a batch. */
export interface PriorDraw {
  /** Per sample: the transition's noisier time t and its less noisy end s. */
  t: number[];
  s: number[];
  /** Number of KL terms in the sum (M - 1): the estimator's weight. */
  count: number;
  /** Standard normal noise [B, h, w, c] for z_t. */
  eps: tf.Tensor4D;
}

/** Draw the transitions (stratified over the batch unless told otherwise) and the noise. */
export function drawPriorTimes(
  grid: readonly number[],
  batch: number,
  rng: Rng,
  stratified = true,
): { t: number[]; s: number[]; count: number } {
  const count = grid.length - 2;
  if (count < 1) throw new Error('vipaint prior term: the grid above T_e has fewer than two transitions');
  const u = rng.uniform();
  const t: number[] = [];
  const s: number[] = [];
  for (let b = 0; b < batch; b++) {
    const r = stratified ? (u + b / batch) % 1 : b === 0 ? u : rng.uniform();
    const j = 2 + Math.min(count - 1, Math.floor(r * count));
    t.push(grid[j] as number);
    s.push(grid[j - 1] as number);
  }
  return { t, s, count };
}

export function drawPrior(
  grid: readonly number[],
  shape: [number, number, number, number],
  rng: Rng,
  stratified = true,
): PriorDraw {
  const times = drawPriorTimes(grid, shape[0], rng, stratified);
  return { ...times, eps: rng.normalTensor<tf.Tensor4D>(shape) };
}

/** Level of u relative to T_e as the data: (alpha_{u|T_e}, sigma_{u|T_e}). */
function relativeLevel(lTe: NoiseLevel, lu: NoiseLevel): NoiseLevel {
  const tr = transitionBetween(lTe, lu);
  return { alpha: tr.alphaTS, sigma: Math.sqrt(tr.sigmaTS2) };
}

/** Per-sample float64 constants of one transition (exported for tests). */
export interface PriorTransitionCoefficients {
  alphaTTe: number;
  sigmaTTe: number;
  /** zhat = zhatZt z_t + zhatX0 x_hat. */
  zhatZt: number;
  zhatX0: number;
  /** Weight w with KL = w ||z_{T_e} - zhat||^2 (per variant). */
  weight: number;
}

export function priorTransitionCoefficients(
  schedule: NoiseSchedule,
  te: number,
  s: number,
  t: number,
  variant: KlVariant = 'correct',
): PriorTransitionCoefficients {
  const lTe = schedule.level(te);
  const lt = schedule.level(t);
  const relT = relativeLevel(lTe, lt);
  const relS = relativeLevel(lTe, schedule.level(s));
  const q = posteriorBetween(relS, relT);
  const zhat = posteriorBetween(lTe, lt);
  const c = q.meanCoefX;
  const weight = variant === 'authors' ? (c * c * q.variance) / 2 : (c * c) / (2 * q.variance);
  return {
    alphaTTe: relT.alpha,
    sigmaTTe: relT.sigma,
    zhatZt: zhat.meanCoefZt,
    zhatX0: zhat.meanCoefX,
    weight,
  };
}

function column(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

/**
 * Per-sample estimate (M - 1) KL_j of the prior term for z_{T_e} [B, ...]: one network call (at the
 * B per-sample times). Differentiable in z_{T_e} (through the network too).
 */
export function priorTerm(
  denoiser: Denoiser,
  te: number,
  zTe: tf.Tensor4D,
  draw: PriorDraw,
  variant: KlVariant = 'correct',
): tf.Tensor1D {
  const schedule = denoiser.schedule;
  const b = zTe.shape[0];
  if (draw.t.length !== b) throw new Error(`vipaint prior term: ${draw.t.length} times for a batch of ${b}`);
  const co = draw.t.map((t, i) => priorTransitionCoefficients(schedule, te, draw.s[i] as number, t, variant));
  return tf.tidy(() => {
    const zt = tf.add(
      tf.mul(zTe, column(co.map((c) => c.alphaTTe))),
      tf.mul(draw.eps, column(co.map((c) => c.sigmaTTe))),
    ) as tf.Tensor4D;
    const allSame = draw.t.every((t) => t === draw.t[0]);
    const x0 = denoiser.predictX0(zt, allSame ? (draw.t[0] as number) : tf.tensor1d(draw.t));
    const zhat = tf.add(
      tf.mul(zt, column(co.map((c) => c.zhatZt))),
      tf.mul(x0, column(co.map((c) => c.zhatX0))),
    );
    const sq = sumPerSample(tf.square(tf.sub(zTe, zhat)));
    return tf.mul(sq, tf.tensor1d(co.map((c) => c.weight * draw.count))) as tf.Tensor1D;
  });
}
