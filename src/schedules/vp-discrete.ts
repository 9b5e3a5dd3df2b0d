/**
 * Discrete variance-preserving schedule (DDPM / LDM): numSteps betas, abar_t = prod_{i<=t} (1 - beta_i),
 * alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t), for integer t in 0..numSteps-1.
 *
 * Index convention (CompVis latent-diffusion and diffusers): index t uses abar[t], the product up to
 * and INCLUDING beta[t]. So t = 0 already carries a little noise (sigma_0 = sqrt(beta_0), 0.029 for
 * the LDM schedule), and the network's timestep input is this same integer t. The clean level
 * (alpha = 1, sigma = 0) is not a time on this schedule: samplers reach it as `CLEAN`.
 *
 * Beta schedules (names as in diffusers):
 * - 'linear': beta = linspace(betaStart, betaEnd, N), DDPM defaults 1e-4 .. 0.02;
 * - 'scaled_linear': beta = linspace(sqrt(betaStart), sqrt(betaEnd), N)^2, LDM defaults
 *   0.00085 .. 0.012. CompVis calls this one 'linear' (its linear_start / linear_end are
 *   betaStart / betaEnd here);
 * - 'cosine': Nichol & Dhariwal 2021, abar(t) = f(t) / f(0) with f(t) = cos^2(((t/N + s) / (1 + s)) pi/2),
 *   s = 0.008, beta_t = 1 - abar(t+1)/abar(t) clipped at 0.999.
 * All are computed in float64.
 */
import { BaseSchedule } from './base.js';
import type { BetaScheduleName, ScheduleSpec } from './types.js';

export interface VpDiscreteOptions {
  betaSchedule?: BetaScheduleName;
  numSteps?: number;
  /** First beta ('linear', 'scaled_linear'). */
  betaStart?: number;
  /** Last beta ('linear', 'scaled_linear'). */
  betaEnd?: number;
  /** Offset s of the cosine schedule. */
  cosineS?: number;
}

const DEFAULT_RANGE: Record<'linear' | 'scaled_linear', [number, number]> = {
  linear: [1e-4, 0.02],
  scaled_linear: [0.00085, 0.012],
};

function linspace(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  return Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
}

/** The betas of a named schedule, float64. */
export function makeBetas(options: VpDiscreteOptions = {}): number[] {
  const name = options.betaSchedule ?? 'scaled_linear';
  const n = options.numSteps ?? 1000;
  if (!Number.isInteger(n) || n < 2)
    throw new Error(`vp-discrete: numSteps must be an integer >= 2, got ${n}`);
  if (name === 'cosine') {
    const s = options.cosineS ?? 0.008;
    const f = (i: number): number => Math.cos((((i / n + s) / (1 + s)) * Math.PI) / 2) ** 2;
    const betas: number[] = [];
    for (let i = 0; i < n; i++) betas.push(Math.min(1 - f(i + 1) / f(i), 0.999));
    return betas;
  }
  if (name !== 'linear' && name !== 'scaled_linear') {
    throw new Error(`vp-discrete: unknown beta schedule '${String(name)}' (linear, scaled_linear, cosine)`);
  }
  const [start, end] = [
    options.betaStart ?? DEFAULT_RANGE[name][0],
    options.betaEnd ?? DEFAULT_RANGE[name][1],
  ];
  if (!(start > 0 && end > start && end < 1)) {
    throw new Error(`vp-discrete: need 0 < betaStart < betaEnd < 1, got ${start}, ${end}`);
  }
  if (name === 'linear') return linspace(start, end, n);
  return linspace(Math.sqrt(start), Math.sqrt(end), n).map((b) => b * b);
}

export function cumprodOneMinus(betas: readonly number[]): number[] {
  const out: number[] = [];
  let p = 1;
  for (const b of betas) {
    p *= 1 - b;
    out.push(p);
  }
  return out;
}

export class VpDiscreteSchedule extends BaseSchedule {
  readonly kind = 'vp' as const;
  readonly discrete = true;
  override readonly numSteps: number;
  readonly tMin = 0;
  readonly tMax: number;
  /** abar[t], float64. */
  readonly alphasCumprod: Float64Array;
  private readonly spec: ScheduleSpec;

  /** Build from a named beta schedule (default: the LDM scaled-linear schedule, 1000 steps). */
  static fromBetas(options: VpDiscreteOptions = {}): VpDiscreteSchedule {
    const betaSchedule = options.betaSchedule ?? 'scaled_linear';
    const numSteps = options.numSteps ?? 1000;
    const spec: ScheduleSpec =
      betaSchedule === 'cosine'
        ? { family: 'vp-discrete', betaSchedule, numSteps, cosineS: options.cosineS ?? 0.008 }
        : {
            family: 'vp-discrete',
            betaSchedule,
            numSteps,
            betaStart: options.betaStart ?? DEFAULT_RANGE[betaSchedule]?.[0],
            betaEnd: options.betaEnd ?? DEFAULT_RANGE[betaSchedule]?.[1],
          };
    return new VpDiscreteSchedule(cumprodOneMinus(makeBetas(options)), spec);
  }

  /** Build from a checkpoint's own `alphas_cumprod` buffer (strictly decreasing, in (0, 1)). */
  static fromAlphasCumprod(alphasCumprod: ArrayLike<number>): VpDiscreteSchedule {
    const values = Array.from(alphasCumprod);
    return new VpDiscreteSchedule(values, {
      family: 'vp-discrete',
      betaSchedule: 'custom',
      alphasCumprod: values,
    });
  }

  private constructor(alphasCumprod: readonly number[], spec: ScheduleSpec) {
    super();
    if (alphasCumprod.length < 2) throw new Error('vp-discrete: need at least 2 steps');
    for (let i = 0; i < alphasCumprod.length; i++) {
      const a = alphasCumprod[i] as number;
      if (!(a > 0 && a < 1)) throw new Error(`vp-discrete: abar[${i}] = ${a} is not in (0, 1)`);
      if (i > 0 && !(a < (alphasCumprod[i - 1] as number))) {
        throw new Error(`vp-discrete: abar must decrease strictly (abar[${i}] = ${a})`);
      }
    }
    this.alphasCumprod = Float64Array.from(alphasCumprod);
    this.numSteps = alphasCumprod.length;
    this.tMax = this.numSteps - 1;
    this.spec = spec;
  }

  protected describe(): string {
    return `vp-discrete schedule (${this.numSteps} steps)`;
  }

  /** abar_t */
  alphaBar(t: number): number {
    this.checkTime(t);
    return this.alphasCumprod[t] as number;
  }

  /** beta_t = 1 - abar_t / abar_{t-1} (abar_{-1} = 1). */
  beta(t: number): number {
    const prev = t === 0 ? 1 : this.alphaBar(t - 1);
    return 1 - this.alphaBar(t) / prev;
  }

  alpha(t: number): number {
    return Math.sqrt(this.alphaBar(t));
  }

  sigma(t: number): number {
    return Math.sqrt(1 - this.alphaBar(t));
  }

  override logSnr(t: number): number {
    const a = this.alphaBar(t);
    return Math.log(a) - Math.log1p(-a);
  }

  toJSON(): ScheduleSpec {
    return this.spec;
  }
}

export function vpDiscrete(options: VpDiscreteOptions = {}): VpDiscreteSchedule {
  return VpDiscreteSchedule.fromBetas(options);
}
