/**
 * Initial VIPaint parameters from y_0, the observation mapped into the diffusion's space (for an
 * LDM: the encoding of the masked / degraded image; for a pixel prior: that image itself), after
 * the paper's Table 4 (docs/method.md section 4, docs/method.md "Initialisation"):
 *
 *   mu_{T_e}  = alpha_{T_e} y_0 + n_top eps                 tau_{T_e} = sigma_{T_e}
 *   mu_{s(i)} = alpha_{s(i)} y_0 + a2 sigma_{s(i)} eps      tau_{s(i)} = a3 * std of q(z_{s(i)} | z_{s(i+1)}, x)
 *   gamma_{s(i)} = gamma
 *
 * The top keypoint's noise n_top has two forms (both coefficients are options):
 * - Table 4 as written: n_top = a1 sigma_{T_e} (a1 = 0.8 for VP: 0.71 latent units at T_e = 550);
 * - the authors' code: `topNoise` in CLEAN-latent units, n_top = topNoise alpha_{T_e} (their 0.1,
 *   0.046 latent units at T_e = 550).
 * An explicit `a1` selects the first, else `topNoise` the second; with neither, the default of the
 * prior kind applies (INIT_DEFAULTS: VP uses the authors' 0.1, measured better on the embedded LDM,
 * docs/method.md; VE/EDM Table 4's a1 = 0.01).
 *
 * Other defaults: VP a2 = 1, a3 = 0.7, gamma = 0.98 (the paper's ImageNet-256 value; LSUN used
 * 0.88); VE/EDM a2 = 0.01, a3 = 1, gamma = 0.5.
 * On tau_{s(i)}: Table 4 says "Eq. 23 times a3/eta"; the authors' code makes it a3/sqrt(eta) times
 * the variance-convention DDIM std, which is a3 times the full posterior std sqrt(sigma_{t|s}^2
 * sigma_s^2 / sigma_t^2) whatever eta is. We use that form (it is also Eq. 20, the ancestral std, for
 * VE with a3 = 1). One eps is drawn per keypoint.
 *
 * With the 'authors' parametrisation mu is in clean units: mu = (the noisy-unit mean above) / alpha,
 * i.e. mu_{T_e} = y_0 + (n_top / alpha_{T_e}) eps and mu_{s(i)} = y_0 + a2 (sigma_{s(i)} / alpha_{s(i)}) eps,
 * so that alpha_{s(i)} mu_{s(i)} equals Table 4's mean (their code draws the lower means in noisy
 * units and then scales them by alpha again; we read that as a slip).
 */
import * as tf from '@tensorflow/tfjs';
import { posteriorBetween } from '../../schedules/base.js';
import type { NoiseSchedule } from '../../schedules/types.js';
import type { Rng } from '../../util/random.js';
import type { VipaintConfig } from './config.js';
import type { VipaintParams } from './posterior.js';

export interface VipaintInitOptions {
  a1?: number;
  a2?: number;
  a3?: number;
  gamma?: number;
  /** Noise of the top mean in clean-latent units (the authors' form); ignored when `a1` is given. */
  topNoise?: number;
}

export interface InitDefaults {
  /** Table 4's a1, used when the kind's default top noise is Table 4's. */
  a1: number;
  /** The kind's default top noise in clean units (the authors' form), or undefined for Table 4's a1. */
  topNoise: number | undefined;
  a2: number;
  a3: number;
  gamma: number;
}

export const INIT_DEFAULTS: Readonly<Record<'vp' | 've', Readonly<InitDefaults>>> = Object.freeze({
  vp: Object.freeze({ a1: 0.8, topNoise: 0.1, a2: 1, a3: 0.7, gamma: 0.98 }),
  ve: Object.freeze({ a1: 0.01, topNoise: undefined, a2: 0.01, a3: 1, gamma: 0.5 }),
});

export function initDefaults(schedule: NoiseSchedule): InitDefaults {
  return schedule.kind === 'vp' ? { ...INIT_DEFAULTS.vp } : { ...INIT_DEFAULTS.ve };
}

/** The top mean's noise std in noisy-latent units: a1 sigma (Table 4) or topNoise alpha (the authors'). */
export function topNoiseStd(
  level: { alpha: number; sigma: number },
  defaults: InitDefaults,
  options: VipaintInitOptions,
): number {
  if (options.a1 !== undefined) return options.a1 * level.sigma;
  const clean = options.topNoise ?? defaults.topNoise;
  return clean !== undefined ? clean * level.alpha : defaults.a1 * level.sigma;
}

function logit(p: number): number {
  return Math.log(p / (1 - p));
}

/** Parameters as plain tensors (the caller owns them). y_0 is [1, h, w, c] in the diffusion space. */
export function initVipaintParams(
  schedule: NoiseSchedule,
  config: VipaintConfig,
  y0: tf.Tensor4D,
  rng: Rng,
  options: VipaintInitOptions = {},
): VipaintParams {
  const d = initDefaults(schedule);
  const a1 = options.a1 ?? d.a1;
  const a2 = options.a2 ?? d.a2;
  const a3 = options.a3 ?? d.a3;
  const gamma = options.gamma ?? d.gamma;
  for (const [name, v] of [
    ['a1', a1],
    ['topNoise', options.topNoise ?? 0],
    ['a2', a2],
    ['a3', a3],
  ] as const) {
    if (!(Number.isFinite(v) && v >= 0))
      throw new Error(`vipaint init: ${name} must be a finite number >= 0, got ${v}`);
  }
  if (!(a3 > 0)) throw new Error('vipaint init: a3 must be > 0 (tau = 0 has no log)');
  if (!(gamma > 0 && gamma < 1)) throw new Error(`vipaint init: gamma must be in (0, 1), got ${gamma}`);
  if (y0.shape[0] !== 1) throw new Error(`vipaint init: y_0 must have batch 1, got ${y0.shape[0]}`);
  const kp = config.keypoints;
  const k = kp.length;
  const shape = y0.shape.slice(1) as [number, number, number];
  const authors = config.parametrisation === 'authors';
  return tf.tidy(() => {
    const mus: tf.Tensor[] = [];
    const logTau2: number[] = [];
    kp.forEach((t, i) => {
      const { alpha, sigma } = schedule.level(t);
      const eps = rng.normalTensor(y0.shape);
      if (i === 0) {
        const n = topNoiseStd({ alpha, sigma }, d, options);
        mus.push(authors ? tf.add(y0, tf.mul(eps, n / alpha)) : tf.add(tf.mul(y0, alpha), tf.mul(eps, n)));
        logTau2.push(2 * Math.log(sigma));
      } else {
        mus.push(
          authors
            ? tf.add(y0, tf.mul(eps, (a2 * sigma) / alpha))
            : tf.add(tf.mul(y0, alpha), tf.mul(eps, a2 * sigma)),
        );
        const p = posteriorBetween(schedule.level(t), schedule.level(kp[i - 1] as number));
        logTau2.push(2 * Math.log(a3) + Math.log(p.variance));
      }
    });
    const mu = tf.concat(mus, 0) as tf.Tensor4D;
    const tau = tf.mul(tf.ones([k, ...shape]), tf.tensor4d(logTau2, [k, 1, 1, 1])) as tf.Tensor4D;
    const gShape = config.gammaShape === 'keypoint' ? [k - 1] : [k - 1, ...shape];
    const gammaLogit = tf.fill(gShape, logit(gamma));
    return { mu, logTau2: tau, gammaLogit };
  });
}
