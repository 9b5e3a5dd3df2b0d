/**
 * Continuous-time variance-preserving schedules, t in [tMin, tMax] within [0, 1]:
 *
 * - 'linear' (Song et al. 2021, VP SDE): beta(t) = betaMin + t (betaMax - betaMin), so
 *   log alpha_t = -(1/2) int_0^t beta = -(1/4) t^2 (betaMax - betaMin) - (1/2) t betaMin,
 *   defaults betaMin = 0.1, betaMax = 20, tMin = 1e-3 (the SDE paper's sampling epsilon), tMax = 1;
 * - 'cosine' (Nichol & Dhariwal 2021, continuous): alpha_t = cos(((t + s)/(1 + s)) pi/2) / cos((s/(1 + s)) pi/2),
 *   s = 0.008. alpha_1 = 0 (infinite noise), so tMax defaults to 0.999.
 *
 * sigma_t = sqrt(1 - alpha_t^2) in both cases (computed with expm1 to keep precision near t = 0).
 */
import { BaseSchedule } from './base.js';
import type { ScheduleSpec } from './types.js';

export type VpContinuousOptions =
  | { betaSchedule?: 'linear'; betaMin?: number; betaMax?: number; tMin?: number; tMax?: number }
  | { betaSchedule: 'cosine'; cosineS?: number; tMin?: number; tMax?: number };

export class VpContinuousSchedule extends BaseSchedule {
  readonly kind = 'vp' as const;
  readonly discrete = false;
  readonly tMin: number;
  readonly tMax: number;
  private readonly spec: ScheduleSpec;
  /** log alpha_t^2 as a function of t. */
  private readonly logAlpha2: (t: number) => number;

  constructor(options: VpContinuousOptions = {}) {
    super();
    if (options.betaSchedule === 'cosine') {
      const s = options.cosineS ?? 0.008;
      const tMin = options.tMin ?? 1e-3;
      const tMax = options.tMax ?? 0.999;
      const c0 = Math.cos((s / (1 + s)) * (Math.PI / 2));
      this.logAlpha2 = (t) => 2 * Math.log(Math.cos(((t + s) / (1 + s)) * (Math.PI / 2)) / c0);
      this.spec = { family: 'vp-continuous', betaSchedule: 'cosine', cosineS: s, tMin, tMax };
      [this.tMin, this.tMax] = [tMin, tMax];
      if (!(tMax < 1)) throw new Error('vp-continuous cosine: tMax must be < 1 (alpha_1 = 0)');
    } else {
      const betaMin = options.betaMin ?? 0.1;
      const betaMax = options.betaMax ?? 20;
      const tMin = options.tMin ?? 1e-3;
      const tMax = options.tMax ?? 1;
      if (!(betaMin > 0 && betaMax > betaMin)) {
        throw new Error(`vp-continuous linear: need 0 < betaMin < betaMax, got ${betaMin}, ${betaMax}`);
      }
      this.logAlpha2 = (t) => -0.5 * t * t * (betaMax - betaMin) - t * betaMin;
      this.spec = { family: 'vp-continuous', betaSchedule: 'linear', betaMin, betaMax, tMin, tMax };
      [this.tMin, this.tMax] = [tMin, tMax];
      if (!(tMax <= 1)) throw new Error('vp-continuous linear: tMax must be <= 1');
    }
    if (!(this.tMin > 0 && this.tMax > this.tMin)) {
      throw new Error(`vp-continuous: need 0 < tMin < tMax, got ${this.tMin}, ${this.tMax}`);
    }
  }

  protected describe(): string {
    return `vp-continuous schedule (${(this.spec as { betaSchedule: string }).betaSchedule})`;
  }

  alpha(t: number): number {
    this.checkTime(t);
    return Math.exp(0.5 * this.logAlpha2(t));
  }

  sigma(t: number): number {
    this.checkTime(t);
    return Math.sqrt(-Math.expm1(this.logAlpha2(t)));
  }

  override logSnr(t: number): number {
    this.checkTime(t);
    const l = this.logAlpha2(t);
    return l - Math.log(-Math.expm1(l));
  }

  toJSON(): ScheduleSpec {
    return this.spec;
  }
}

export function vpContinuous(options: VpContinuousOptions = {}): VpContinuousSchedule {
  return new VpContinuousSchedule(options);
}
