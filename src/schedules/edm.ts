/**
 * EDM schedule (Karras et al. 2022): alpha = 1 and the time variable IS the noise level,
 * t = sigma in [sigmaMin, sigmaMax] (defaults 0.002, 80). A Denoiser on this schedule takes sigma
 * as its time argument.
 *
 * Also here: the rho discretisation of the sampler (their Eq. 5)
 *   sigma_i = (sigmaMax^(1/rho) + i/(N-1) (sigmaMin^(1/rho) - sigmaMax^(1/rho)))^rho, i < N, sigma_N = 0,
 * and the network preconditioning of their Table 1 for data standard deviation sigmaData (0.5):
 *   c_skip = sigmaData^2 / (sigma^2 + sigmaData^2), c_out = sigma sigmaData / sqrt(sigma^2 + sigmaData^2),
 *   c_in = 1 / sqrt(sigma^2 + sigmaData^2), c_noise = ln(sigma) / 4,
 * so that D(z; sigma) = c_skip z + c_out F(c_in z; c_noise).
 */
import { BaseSchedule } from './base.js';
import type { ScheduleSpec } from './types.js';

export interface EdmOptions {
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  sigmaData?: number;
}

export interface EdmPreconditioning {
  cSkip: number;
  cOut: number;
  cIn: number;
  cNoise: number;
}

/** Karras et al. Table 1 preconditioning at noise level sigma. */
export function edmPreconditioning(sigma: number, sigmaData = 0.5): EdmPreconditioning {
  const d2 = sigmaData * sigmaData;
  const r = Math.sqrt(sigma * sigma + d2);
  return {
    cSkip: d2 / (sigma * sigma + d2),
    cOut: (sigma * sigmaData) / r,
    cIn: 1 / r,
    cNoise: Math.log(sigma) / 4,
  };
}

export class EdmSchedule extends BaseSchedule {
  readonly kind = 'edm' as const;
  readonly discrete = false;
  readonly tMin: number;
  readonly tMax: number;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  readonly rho: number;
  readonly sigmaData: number;

  constructor(options: EdmOptions = {}) {
    super();
    this.sigmaMin = options.sigmaMin ?? 0.002;
    this.sigmaMax = options.sigmaMax ?? 80;
    this.rho = options.rho ?? 7;
    this.sigmaData = options.sigmaData ?? 0.5;
    if (!(this.sigmaMin > 0 && this.sigmaMax > this.sigmaMin)) {
      throw new Error(`edm: need 0 < sigmaMin < sigmaMax, got ${this.sigmaMin}, ${this.sigmaMax}`);
    }
    if (!(this.rho > 0 && this.sigmaData > 0)) throw new Error('edm: rho and sigmaData must be positive');
    this.tMin = this.sigmaMin;
    this.tMax = this.sigmaMax;
  }

  /**
   * Any finite sigma > 0 is a valid time: an EDM network can be evaluated anywhere (e.g. Algorithm 2's
   * churn raises sigma above sigmaMax). [sigmaMin, sigmaMax] is the nominal range used for the
   * sampler's discretisation, SNR inversion and keypoint validation.
   */
  override checkTime(t: number): void {
    if (!(Number.isFinite(t) && t > 0))
      throw new Error(`${this.describe()}: sigma must be a finite number > 0, got ${t}`);
  }

  protected describe(): string {
    return `edm schedule (sigma ${this.sigmaMin}..${this.sigmaMax})`;
  }

  alpha(t: number): number {
    this.checkTime(t);
    return 1;
  }

  sigma(t: number): number {
    this.checkTime(t);
    return t;
  }

  /**
   * The sampler's noise levels: `numSteps` sigmas from sigmaMax down to sigmaMin by the rho rule,
   * followed by a final 0 (numSteps + 1 values). `from`/`to` replace sigmaMax/sigmaMin, e.g. to
   * sample only below a VIPaint keypoint.
   */
  sigmas(numSteps: number, range: { from?: number; to?: number } = {}): number[] {
    if (!Number.isInteger(numSteps) || numSteps < 1)
      throw new Error(`edm.sigmas: numSteps must be >= 1, got ${numSteps}`);
    const hi = range.from ?? this.sigmaMax;
    const lo = range.to ?? this.sigmaMin;
    if (!(hi >= lo && lo > 0)) throw new Error(`edm.sigmas: need from >= to > 0, got ${hi}, ${lo}`);
    const a = Math.pow(hi, 1 / this.rho);
    const b = Math.pow(lo, 1 / this.rho);
    const out: number[] = [];
    for (let i = 0; i < numSteps; i++) {
      out.push(numSteps === 1 ? hi : Math.pow(a + (i / (numSteps - 1)) * (b - a), this.rho));
    }
    out.push(0);
    return out;
  }

  preconditioning(sigma: number): EdmPreconditioning {
    return edmPreconditioning(sigma, this.sigmaData);
  }

  toJSON(): ScheduleSpec {
    return {
      family: 'edm',
      sigmaMin: this.sigmaMin,
      sigmaMax: this.sigmaMax,
      rho: this.rho,
      sigmaData: this.sigmaData,
    };
  }
}

export function edm(options: EdmOptions = {}): EdmSchedule {
  return new EdmSchedule(options);
}
