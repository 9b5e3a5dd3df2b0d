/**
 * The hierarchical Gaussian posterior of VIPaint (docs/method.md section 2, the paper's Eq. 7-8):
 *
 *   q(z_{T_s:T_e}) = q(z_{T_e}) prod_{i=1}^{K-1} q(z_{s(i)} | z_{s(i+1)}),
 *   q(z_{T_e}) = N(mu_0, tau_0^2)                                   ('paper'), or
 *              = law of alpha(tau_0) mu_0 + tau_0 eps                ('authors', see config.ts),
 *   q(z_{s(i)} | z_{s(i+1)}) = N(gamma_i zbar_i + (1 - gamma_i) anchor_i, tau_i^2),
 *
 * with zbar_i the mean of the prior step p_theta(z_{s(i)} | z_{s(i+1)}) (one network call) and
 * anchor_i = mu_i ('paper') or alpha_{s(i)} mu_i ('authors').
 *
 * Storage (index 0 = T_e, index K-1 = T_s, the keypoints' order):
 *   mu       [K, h, w, c]  latent-shaped means;
 *   logTau2  [K, h, w, c]  log tau^2 per element;
 *   gammaLogit [K-1] (one per transition, entry i-1 belongs to keypoint i) or [K-1, h, w, c].
 * Samples are drawn by reparameterisation, so everything here is differentiable in the parameters.
 */
import * as tf from '@tensorflow/tfjs';
import type { Denoiser } from '../../networks/denoiser.js';
import { ancestralStepMeanStd } from '../../sampling/ancestral.js';
import { ddimStepMeanStd } from '../../sampling/ddim.js';
import type { NoiseSchedule } from '../../schedules/types.js';
import type { Rng } from '../../util/random.js';
import type { VipaintConfig } from './config.js';

export interface VipaintParams {
  mu: tf.Tensor4D;
  logTau2: tf.Tensor4D;
  gammaLogit: tf.Tensor;
}

/** Coefficients of the prior step p_theta(z_s | z_t) = N(coefZt z_t + coefX0 x_hat(z_t, t), std^2). */
export interface PriorStep {
  coefZt: number;
  coefX0: number;
  std: number;
}

export function priorStepBetween(
  schedule: NoiseSchedule,
  config: VipaintConfig,
  t: number,
  s: number,
): PriorStep {
  const c =
    config.priorStep === 'ddim'
      ? ddimStepMeanStd(schedule, t, s, config.eta, 'variance')
      : ancestralStepMeanStd(schedule, t, s);
  if (!(c.std > 0)) throw new Error(`vipaint: the prior step ${t} -> ${s} has zero variance`);
  return { coefZt: c.coefZt, coefX0: c.coefX0, std: c.std };
}

/** The standard normal draws of one pass down the hierarchy for a batch of B samples. */
export interface HierarchyNoise {
  /** [B, h, w, c] for the top level. */
  top: tf.Tensor4D;
  /** K-1 tensors [B, h, w, c], one per transition. */
  steps: tf.Tensor4D[];
}

export function drawHierarchyNoise(
  rng: Rng,
  config: VipaintConfig,
  shape: [number, number, number, number],
): HierarchyNoise {
  const k = config.keypoints.length;
  return {
    top: rng.normalTensor<tf.Tensor4D>(shape),
    steps: Array.from({ length: k - 1 }, () => rng.normalTensor<tf.Tensor4D>(shape)),
  };
}

export function disposeHierarchyNoise(n: HierarchyNoise): void {
  n.top.dispose();
  n.steps.forEach((t) => t.dispose());
}

/** Keypoint i's slice of a [K, ...] parameter as [1, ...]. */
export function levelSlice(p: tf.Tensor, i: number): tf.Tensor {
  return tf.slice(p, i, 1);
}

/** gamma of keypoint i >= 1 as a number-broadcastable tensor ([1,1,1,1] or [1,h,w,c]). */
export function gammaOf(params: VipaintParams, config: VipaintConfig, i: number): tf.Tensor {
  return tf.tidy(() => {
    const g = tf.sigmoid(tf.slice(params.gammaLogit, i - 1, 1));
    return config.gammaShape === 'keypoint' ? tf.reshape(g, [1, 1, 1, 1]) : g;
  });
}

/** The alpha(tau) of the authors' top level: sqrt(1 - tau^2) on VP schedules (kept >= 1e-3), else 1. */
function authorsTopAlpha(schedule: NoiseSchedule, tau2: tf.Tensor): tf.Tensor | number {
  if (schedule.kind !== 'vp') return 1;
  return tf.sqrt(tf.maximum(tf.sub(1, tau2), 1e-6));
}

/** z_{T_e} for the batch (reparameterised). */
export function sampleTop(
  schedule: NoiseSchedule,
  config: VipaintConfig,
  params: VipaintParams,
  eps: tf.Tensor4D,
): tf.Tensor4D {
  return tf.tidy(() => {
    const mu = levelSlice(params.mu, 0);
    const logTau2 = levelSlice(params.logTau2, 0);
    const tau = tf.exp(tf.mul(logTau2, 0.5));
    const centre =
      config.parametrisation === 'authors' ? tf.mul(mu, authorsTopAlpha(schedule, tf.exp(logTau2))) : mu;
    return tf.add(centre, tf.mul(tau, eps)) as tf.Tensor4D;
  });
}

/** What one transition of the walk exposes to its caller (the objective's KL terms). */
export interface LevelInfo {
  /** Keypoint index i (1..K-1) and its time s(i); the step came from keypoints[i-1]. */
  index: number;
  t: number;
  /** Mean of q(z_{s(i)} | z_{s(i+1)}), [B, ...]. */
  qMean: tf.Tensor4D;
  /** log tau_i, [1, ...]. */
  logTau: tf.Tensor;
  /** Mean zbar_i and std of the prior step p_theta(z_{s(i)} | z_{s(i+1)}). */
  zbar: tf.Tensor4D;
  priorStd: number;
  /** The network's prediction x_hat(z_{s(i-1)}) this transition used (for previews). */
  x0: tf.Tensor4D;
}

export interface WalkOptions {
  /**
   * Called for every transition while its tensors are alive (do not keep them). A tensor it returns
   * (e.g. that level's KL) survives the step and is handed back in `perLevel`.
   */
  onLevel?: (info: LevelInfo) => tf.Tensor | void;
  signal?: AbortSignal;
}

export interface WalkResult {
  zTs: tf.Tensor4D;
  /** What `onLevel` returned, one entry per transition that returned a tensor. */
  perLevel: tf.Tensor[];
}

/**
 * From z_{T_e} down the hierarchy to z_{T_s}: one call of `denoiser` per transition (the
 * caller's denoiser does the call counting). z_{T_e} is not disposed.
 */
export function walkHierarchy(
  denoiser: Denoiser,
  config: VipaintConfig,
  params: VipaintParams,
  zTe: tf.Tensor4D,
  noise: tf.Tensor4D[],
  options: WalkOptions = {},
): WalkResult {
  const schedule = denoiser.schedule;
  const kp = config.keypoints;
  const perLevel: tf.Tensor[] = [];
  let z = zTe;
  try {
    for (let i = 1; i < kp.length; i++) {
      options.signal?.throwIfAborted();
      const t = kp[i - 1] as number;
      const s = kp[i] as number;
      const step = priorStepBetween(schedule, config, t, s);
      const out = tf.tidy(() => {
        const x0 = denoiser.predictX0(z, t);
        const zbar = tf.add(tf.mul(z, step.coefZt), tf.mul(x0, step.coefX0)) as tf.Tensor4D;
        const mu = levelSlice(params.mu, i);
        const anchor = config.parametrisation === 'authors' ? tf.mul(mu, schedule.alpha(s)) : mu;
        const g = gammaOf(params, config, i);
        const qMean = tf.add(tf.mul(g, zbar), tf.mul(tf.sub(1, g), anchor)) as tf.Tensor4D;
        const logTau = tf.mul(levelSlice(params.logTau2, i), 0.5);
        const extra = options.onLevel?.({ index: i, t: s, qMean, logTau, zbar, priorStd: step.std, x0 });
        const eps = noise[i - 1];
        if (!eps) throw new Error(`vipaint: no noise for transition ${i}`);
        const next = tf.add(qMean, tf.mul(tf.exp(logTau), eps)) as tf.Tensor4D;
        return extra ? { next, extra } : { next };
      });
      if (z !== zTe) z.dispose();
      z = out.next;
      if (out.extra) perLevel.push(out.extra);
    }
  } catch (e) {
    if (z !== zTe) z.dispose();
    perLevel.forEach((t) => t.dispose());
    throw e;
  }
  return { zTs: z, perLevel };
}

/** Check a parameter set against a config and a latent shape; throws one clear error. */
export function checkParams(
  params: VipaintParams,
  config: VipaintConfig,
  latentShape: readonly number[],
): void {
  const k = config.keypoints.length;
  const want = [k, ...latentShape].join('x');
  for (const [name, p] of [
    ['mu', params.mu],
    ['logTau2', params.logTau2],
  ] as const) {
    if (p.shape.join('x') !== want)
      throw new Error(`vipaint: ${name} must be ${want}, got ${p.shape.join('x')}`);
  }
  const gWant = config.gammaShape === 'keypoint' ? `${k - 1}` : [k - 1, ...latentShape].join('x');
  if (params.gammaLogit.shape.join('x') !== gWant) {
    throw new Error(`vipaint: gammaLogit must be ${gWant}, got ${params.gammaLogit.shape.join('x')}`);
  }
}

export function disposeParams(p: VipaintParams): void {
  p.mu.dispose();
  p.logTau2.dispose();
  p.gammaLogit.dispose();
}
