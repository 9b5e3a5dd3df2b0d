/**
 * Variance-exploding schedule (Song & Ermon 2019; Song et al. 2021): alpha_t = 1 and
 * sigma_t = sigmaMin (sigmaMax / sigmaMin)^t for t in [0, 1] (geometric interpolation).
 * Defaults follow docs/method.md: sigma in [0.002, 80].
 */
import { BaseSchedule } from './base.js';
import type { ScheduleSpec } from './types.js';

export interface VeOptions {
  sigmaMin?: number;
  sigmaMax?: number;
}

export class VeSchedule extends BaseSchedule {
  readonly kind = 've' as const;
  readonly discrete = false;
  readonly tMin = 0;
  readonly tMax = 1;
  readonly sigmaMin: number;
  readonly sigmaMax: number;

  constructor(options: VeOptions = {}) {
    super();
    this.sigmaMin = options.sigmaMin ?? 0.002;
    this.sigmaMax = options.sigmaMax ?? 80;
    if (!(this.sigmaMin > 0 && this.sigmaMax > this.sigmaMin)) {
      throw new Error(`ve: need 0 < sigmaMin < sigmaMax, got ${this.sigmaMin}, ${this.sigmaMax}`);
    }
  }

  protected describe(): string {
    return `ve schedule (sigma ${this.sigmaMin}..${this.sigmaMax})`;
  }

  alpha(t: number): number {
    this.checkTime(t);
    return 1;
  }

  sigma(t: number): number {
    this.checkTime(t);
    return this.sigmaMin * Math.pow(this.sigmaMax / this.sigmaMin, t);
  }

  /** The time at which sigma_t = sigma (inverse of the geometric interpolation). */
  timeAtSigma(sigma: number): number {
    return Math.log(sigma / this.sigmaMin) / Math.log(this.sigmaMax / this.sigmaMin);
  }

  toJSON(): ScheduleSpec {
    return { family: 've', sigmaMin: this.sigmaMin, sigmaMax: this.sigmaMax };
  }
}

export function ve(options: VeOptions = {}): VeSchedule {
  return new VeSchedule(options);
}
