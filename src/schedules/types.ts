/**
 * The common interface of noise schedules. A schedule fixes the forward process
 * q(z_t | x) = N(alpha_t x, sigma_t^2 I) (docs/method.md section 1, the paper's Eq. 12) as a function of
 * the schedule's own time variable t:
 *
 * - 'vp' discrete: t is an integer step index 0..numSteps-1 (CompVis / diffusers convention);
 * - 'vp' continuous: t in [tMin, tMax] within [0, 1];
 * - 've': t in [0, 1] with sigma geometric in t;
 * - 'edm': t IS sigma (Karras et al. 2022), alpha = 1.
 *
 * Time always runs from clean (small t) to noisy (large t); SNR decreases strictly with t.
 * Everything here is plain float64 arithmetic on numbers: tensors only enter in src/sampling.
 */

export type ScheduleKind = 'vp' | 've' | 'edm';

/** One noise level of the forward process: z = alpha x + sigma eps. */
export interface NoiseLevel {
  readonly alpha: number;
  readonly sigma: number;
}

/** The clean end of every schedule (alpha = 1, sigma = 0): the target of a sampler's last step. */
export const CLEAN: NoiseLevel = Object.freeze({ alpha: 1, sigma: 0 });

/**
 * A time on a schedule, or an explicit noise level. Step functions accept either so that a
 * sampler's last step can go to `CLEAN`, which is not a time on a discrete VP schedule.
 */
export type TimeOrLevel = number | NoiseLevel;

/** q(z_t | z_s) = N(alphaTS z_s, sigmaTS2 I) for s < t (the paper's Eq. 13-15). */
export interface Transition {
  /** alpha_{t|s} = alpha_t / alpha_s */
  readonly alphaTS: number;
  /** sigma_{t|s}^2 = sigma_t^2 - alpha_{t|s}^2 sigma_s^2 */
  readonly sigmaTS2: number;
}

/**
 * q(z_s | z_t, x) = N(meanCoefZt z_t + meanCoefX x, variance I) for s < t (Eq. 16-18):
 * meanCoefZt = alpha_{t|s} sigma_s^2 / sigma_t^2, meanCoefX = alpha_s sigma_{t|s}^2 / sigma_t^2,
 * variance = sigma_{t|s}^2 sigma_s^2 / sigma_t^2.
 */
export interface Posterior {
  readonly meanCoefZt: number;
  readonly meanCoefX: number;
  readonly variance: number;
}

export type BetaScheduleName = 'linear' | 'scaled_linear' | 'cosine';

/** A JSON description from which `createSchedule` (src/schedules/index.ts) rebuilds a schedule. */
export type ScheduleSpec =
  | {
      family: 'vp-discrete';
      betaSchedule: BetaScheduleName;
      numSteps: number;
      betaStart?: number;
      betaEnd?: number;
      cosineS?: number;
    }
  | { family: 'vp-discrete'; betaSchedule: 'custom'; alphasCumprod: number[] }
  | {
      family: 'vp-continuous';
      betaSchedule: 'linear';
      betaMin: number;
      betaMax: number;
      tMin: number;
      tMax: number;
    }
  | { family: 'vp-continuous'; betaSchedule: 'cosine'; cosineS: number; tMin: number; tMax: number }
  | { family: 've'; sigmaMin: number; sigmaMax: number }
  | { family: 'edm'; sigmaMin: number; sigmaMax: number; rho: number; sigmaData: number };

export interface NoiseSchedule {
  readonly kind: ScheduleKind;
  /** True when t must be an integer step index. */
  readonly discrete: boolean;
  /** Number of integer steps of a discrete schedule (t in 0..numSteps-1). */
  readonly numSteps?: number;
  /** Smallest time (least noise) on the schedule. */
  readonly tMin: number;
  /** Largest time (most noise) on the schedule. */
  readonly tMax: number;

  alpha(t: number): number;
  sigma(t: number): number;
  level(t: number): NoiseLevel;
  /** alpha_t^2 / sigma_t^2 */
  snr(t: number): number;
  /** log(alpha_t^2 / sigma_t^2) */
  logSnr(t: number): number;
  /**
   * The time whose log-SNR is closest to `logSnr` within [tMin, tMax] (rounded to the nearest
   * step for discrete schedules). Throws when `logSnr` lies outside the schedule's range.
   */
  timeAtLogSnr(logSnr: number): number;

  /** Forward transition q(z_t | z_s) for s < t. */
  transition(s: TimeOrLevel, t: TimeOrLevel): Transition;
  /** Posterior q(z_s | z_t, x) for s < t. */
  posterior(s: TimeOrLevel, t: TimeOrLevel): Posterior;
  /**
   * `count` strictly decreasing times from the one at `minSnr` (noisiest) to the one at `maxSnr`,
   * evenly spaced in the schedule's own time variable (rounded for discrete schedules).
   */
  timesBySnr(minSnr: number, maxSnr: number, count: number): number[];

  /** Throws a clear error unless t is a valid time on this schedule. */
  checkTime(t: number): void;
  toJSON(): ScheduleSpec;
}
