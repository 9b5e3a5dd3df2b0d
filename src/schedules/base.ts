/**
 * What every schedule derives from alpha(t) and sigma(t): SNR, the transitions of the forward
 * process between two times and the Gaussian posterior q(z_s | z_t, x) (the paper's appendix B.1,
 * after Kingma et al. 2021), and the inversion from SNR back to time. A concrete schedule only
 * supplies alpha, sigma, its time range and its JSON description.
 */
import type {
  NoiseLevel,
  NoiseSchedule,
  Posterior,
  ScheduleKind,
  ScheduleSpec,
  TimeOrLevel,
  Transition,
} from './types.js';

/** q(z_t | z_s) between two noise levels, s less noisy than t (Eq. 14-15). */
export function transitionBetween(s: NoiseLevel, t: NoiseLevel): Transition {
  const alphaTS = t.alpha / s.alpha;
  // Clamp round-off: for VP, sigma_t^2 - alpha_{t|s}^2 sigma_s^2 = 1 - alpha_{t|s}^2 >= 0 exactly.
  const sigmaTS2 = Math.max(0, t.sigma * t.sigma - alphaTS * alphaTS * s.sigma * s.sigma);
  return { alphaTS, sigmaTS2 };
}

/** q(z_s | z_t, x) between two noise levels, s less noisy than t (Eq. 16-18). */
export function posteriorBetween(s: NoiseLevel, t: NoiseLevel): Posterior {
  if (!(t.sigma > 0)) throw new Error('posterior q(z_s | z_t, x) needs sigma_t > 0');
  const { alphaTS, sigmaTS2 } = transitionBetween(s, t);
  const t2 = t.sigma * t.sigma;
  const s2 = s.sigma * s.sigma;
  return {
    meanCoefZt: (alphaTS * s2) / t2,
    meanCoefX: (s.alpha * sigmaTS2) / t2,
    variance: (sigmaTS2 * s2) / t2,
  };
}

export function levelSnr(level: NoiseLevel): number {
  return (level.alpha * level.alpha) / (level.sigma * level.sigma);
}

export abstract class BaseSchedule implements NoiseSchedule {
  abstract readonly kind: ScheduleKind;
  abstract readonly discrete: boolean;
  abstract readonly tMin: number;
  abstract readonly tMax: number;
  readonly numSteps?: number;

  abstract alpha(t: number): number;
  abstract sigma(t: number): number;
  abstract toJSON(): ScheduleSpec;

  /** A short human-readable name for error messages. */
  protected abstract describe(): string;

  checkTime(t: number): void {
    if (!Number.isFinite(t)) throw new Error(`${this.describe()}: time must be a finite number, got ${t}`);
    // A little slack so that times computed in floating point at the ends are accepted.
    const slack = 1e-9 * Math.max(1, Math.abs(this.tMax));
    if (t < this.tMin - slack || t > this.tMax + slack) {
      throw new Error(`${this.describe()}: time ${t} is outside [${this.tMin}, ${this.tMax}]`);
    }
    if (this.discrete && !Number.isInteger(t)) {
      throw new Error(`${this.describe()}: time must be an integer step index, got ${t}`);
    }
  }

  level(t: number): NoiseLevel {
    return { alpha: this.alpha(t), sigma: this.sigma(t) };
  }

  snr(t: number): number {
    return levelSnr(this.level(t));
  }

  logSnr(t: number): number {
    const { alpha, sigma } = this.level(t);
    return 2 * (Math.log(alpha) - Math.log(sigma));
  }

  protected resolve(x: TimeOrLevel): NoiseLevel {
    return typeof x === 'number' ? this.level(x) : x;
  }

  transition(s: TimeOrLevel, t: TimeOrLevel): Transition {
    return transitionBetween(this.resolve(s), this.resolve(t));
  }

  posterior(s: TimeOrLevel, t: TimeOrLevel): Posterior {
    return posteriorBetween(this.resolve(s), this.resolve(t));
  }

  timeAtLogSnr(logSnr: number): number {
    const hi = this.logSnr(this.tMin);
    const lo = this.logSnr(this.tMax);
    const tol = 1e-9 * Math.max(1, Math.abs(logSnr));
    if (!(logSnr <= hi + tol && logSnr >= lo - tol)) {
      throw new Error(
        `${this.describe()}: log-SNR ${logSnr.toFixed(4)} (SNR ${Math.exp(logSnr).toPrecision(4)}) ` +
          `is outside the schedule's range [${lo.toFixed(4)}, ${hi.toFixed(4)}]`,
      );
    }
    return this.discrete ? this.nearestStep(logSnr) : this.bisect(logSnr);
  }

  /** log-SNR decreases strictly in t: bisection to float64 resolution. */
  private bisect(target: number): number {
    let a = this.tMin;
    let b = this.tMax;
    for (let i = 0; i < 200 && b - a > 1e-15 * Math.max(1, Math.abs(b)); i++) {
      const m = 0.5 * (a + b);
      if (this.logSnr(m) > target) a = m;
      else b = m;
    }
    return 0.5 * (a + b);
  }

  private nearestStep(target: number): number {
    let a = this.tMin;
    let b = this.tMax;
    // Invariant: logSnr(a) >= target >= logSnr(b).
    while (b - a > 1) {
      const m = Math.floor((a + b) / 2);
      if (this.logSnr(m) >= target) a = m;
      else b = m;
    }
    return Math.abs(this.logSnr(a) - target) <= Math.abs(this.logSnr(b) - target) ? a : b;
  }

  timesBySnr(minSnr: number, maxSnr: number, count: number): number[] {
    if (!Number.isInteger(count) || count < 2) {
      throw new Error(`timesBySnr: count must be an integer >= 2, got ${count}`);
    }
    if (!(minSnr > 0 && maxSnr > minSnr)) {
      throw new Error(`timesBySnr: need 0 < minSnr < maxSnr, got minSnr ${minSnr}, maxSnr ${maxSnr}`);
    }
    const tHigh = this.timeAtLogSnr(Math.log(minSnr));
    const tLow = this.timeAtLogSnr(Math.log(maxSnr));
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = tHigh + (i / (count - 1)) * (tLow - tHigh);
      out.push(this.discrete ? Math.round(t) : t);
    }
    for (let i = 1; i < out.length; i++) {
      if (!((out[i] as number) < (out[i - 1] as number))) {
        throw new Error(
          `timesBySnr: ${count} distinct times do not fit between SNR ${minSnr} (t=${tHigh}) and ` +
            `SNR ${maxSnr} (t=${tLow}) on ${this.describe()}`,
        );
      }
    }
    return out;
  }
}
