/**
 * Plain (unconditional or class-conditional) samplers over a Denoiser, returning x0-space samples:
 * - `sampleDdim`: DDIM with eta down a list of times and a last step to the clean level (the
 *   x0 prediction at the smallest time; diffusers' `set_alpha_to_one`), for VP priors;
 * - `sampleEdm`: the EDM Heun (default) / Euler sampler on the rho grid (18 steps default).
 * Both report progress, honour an AbortSignal, and report every network call.
 */
import * as tf from '@tensorflow/tfjs';
import { runSteps, runStepsAsync } from './stepping.js';
import { denoise, type Denoiser } from '../networks/denoiser.js';
import { withGuidance } from '../networks/guidance.js';
import { EdmSchedule } from '../schedules/edm.js';
import { CLEAN, type NoiseSchedule } from '../schedules/types.js';
import type { Rng } from '../util/random.js';
import { ddimStep, ddimStepMeanStd, type EtaConvention } from './ddim.js';
import { edmSampleSteps } from './edm-samplers.js';

export type TimestepSpacing = 'trailing' | 'compvis' | 'linspace';

/**
 * `steps` decreasing times from `from` (default: the schedule's noisiest time) for a sampler.
 * Discrete schedules (N steps):
 * - 'trailing' (default): from, from - c, ..., with c = (from + 1) / steps rounded (starts at the top);
 * - 'compvis': CompVis 'uniform' DDIM times 1 + k floor(N / steps), k = 0, 1, ... below N, reversed
 *   (ignores `from`; more than `steps` times when steps does not divide N);
 * - 'linspace': round(linspace(from, 0, steps)).
 * Continuous schedules: linspace(from, tMin, steps) for every spacing.
 */
export function samplerTimes(
  schedule: NoiseSchedule,
  steps: number,
  options: { spacing?: TimestepSpacing; from?: number } = {},
): number[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`samplerTimes: steps must be an integer >= 1, got ${steps}`);
  const from = options.from ?? schedule.tMax;
  schedule.checkTime(from);
  if (!schedule.discrete) {
    if (steps === 1) return [from];
    return Array.from({ length: steps }, (_, i) => from + (i / (steps - 1)) * (schedule.tMin - from));
  }
  const spacing = options.spacing ?? 'trailing';
  let out: number[];
  if (spacing === 'compvis') {
    // CompVis make_ddim_timesteps('uniform'): range(0, N, N // steps) + 1, so there can be more
    // than `steps` times when steps does not divide N.
    const n = schedule.numSteps ?? schedule.tMax + 1;
    const c = Math.floor(n / steps);
    out = [];
    for (let t = 0; t < n; t += c) out.push(t + 1);
    out.reverse();
  } else if (spacing === 'linspace') {
    out = Array.from({ length: steps }, (_, i) =>
      Math.round(steps === 1 ? from : from - (i / (steps - 1)) * from),
    );
  } else {
    const c = (from + 1) / steps;
    out = Array.from({ length: steps }, (_, i) => Math.round(from - i * c));
  }
  for (let i = 1; i < out.length; i++) {
    if (!((out[i] as number) < (out[i - 1] as number))) {
      throw new Error(`samplerTimes: ${steps} distinct steps do not fit below t = ${from}`);
    }
  }
  out.forEach((t) => schedule.checkTime(t));
  return out;
}

export interface SampleCommonOptions {
  /** Shape of the batch to generate, NHWC. Default [1, ...denoiser.dataShape]. */
  shape?: [number, number, number, number];
  rng: Rng;
  /** Class labels, one per sample or one for all. */
  labels?: number | number[];
  /** Classifier-free guidance scale; needs labels and a class-conditional denoiser. */
  guidanceScale?: number;
  signal?: AbortSignal;
  onStep?: (info: { step: number; total: number; t: number; x0: tf.Tensor4D }) => void;
  /** Called once per network evaluation the sampler makes (a guided call counts once). */
  onNetworkCall?: () => void;
  /** Start from this z instead of fresh noise (not disposed). It must be at the first time's level. */
  init?: tf.Tensor4D;
}

function conditioned(
  denoiser: Denoiser,
  options: SampleCommonOptions,
  batch: number,
): { model: Denoiser; labels?: tf.Tensor1D } {
  if (options.guidanceScale !== undefined) {
    return { model: withGuidance(denoiser, { scale: options.guidanceScale, labels: options.labels }) };
  }
  if (options.labels === undefined) return { model: denoiser };
  const l = options.labels;
  const values = typeof l === 'number' ? new Array<number>(batch).fill(l) : l;
  if (values.length !== batch) throw new Error(`sampler: ${values.length} labels for a batch of ${batch}`);
  return { model: denoiser, labels: tf.tensor1d(values) };
}

function batchShape(denoiser: Denoiser, options: SampleCommonOptions): [number, number, number, number] {
  return options.init
    ? (options.init.shape as [number, number, number, number])
    : (options.shape ?? [1, ...denoiser.dataShape]);
}

export interface DdimSampleOptions extends SampleCommonOptions {
  /** Number of network calls (default 50). */
  steps?: number;
  /** DDIM stochasticity (default 0). */
  eta?: number;
  /** Whether eta scales the step's std (DDIM, default) or its variance (the paper's Eq. 23). */
  etaScales?: EtaConvention;
  spacing?: TimestepSpacing;
  /** Explicit decreasing times; overrides steps/spacing. */
  times?: number[];
}

/**
 * DDIM sampling: z at the first time ~ N(0, I) (VP; sigma_T N(0, I) otherwise), then one DDIM step per
 * time, the last one to the clean level. Returns the x0-space samples.
 */
export function sampleDdim(denoiser: Denoiser, options: DdimSampleOptions): tf.Tensor4D {
  return runSteps(sampleDdimSteps(denoiser, options));
}

/** sampleDdim without blocking the event loop: yields between steps, so an abort is seen promptly. */
export function sampleDdimAsync(denoiser: Denoiser, options: DdimSampleOptions): Promise<tf.Tensor4D> {
  return runStepsAsync(sampleDdimSteps(denoiser, options));
}

/** The DDIM loop as a generator that pauses after every step (see stepping.ts). */
export function* sampleDdimSteps(
  denoiser: Denoiser,
  options: DdimSampleOptions,
): Generator<void, tf.Tensor4D> {
  const schedule = denoiser.schedule;
  const eta = options.eta ?? 0;
  const times = options.times ?? samplerTimes(schedule, options.steps ?? 50, { spacing: options.spacing });
  times.forEach((t, i) => {
    schedule.checkTime(t);
    if (i > 0 && !(t < (times[i - 1] as number))) throw new Error('sampleDdim: times must decrease strictly');
  });
  const shape = batchShape(denoiser, options);
  const { model, labels } = conditioned(denoiser, options, shape[0]);
  const t0 = times[0] as number;
  let z: tf.Tensor4D = options.init
    ? tf.clone(options.init)
    : tf.tidy(() => tf.mul(options.rng.normalTensor(shape), schedule.kind === 'vp' ? 1 : schedule.sigma(t0)));
  try {
    for (let i = 0; i < times.length; i++) {
      options.signal?.throwIfAborted();
      const t = times[i] as number;
      const s = i + 1 < times.length ? (times[i + 1] as number) : CLEAN;
      options.onNetworkCall?.();
      const pred = denoise(model, z, t, labels);
      const noise =
        ddimStepMeanStd(schedule, t, s, eta).std > 0 ? options.rng.normalTensor(shape) : undefined;
      const next = ddimStep(schedule, {
        zt: z,
        eps: pred.eps,
        x0: pred.x0,
        t,
        s,
        eta,
        etaScales: options.etaScales,
        noise,
      }) as tf.Tensor4D;
      noise?.dispose();
      pred.eps.dispose();
      z.dispose();
      z = next;
      try {
        options.onStep?.({ step: i + 1, total: times.length, t, x0: pred.x0 });
      } finally {
        pred.x0.dispose();
      }
      yield;
    }
    return z;
  } catch (e) {
    z.dispose();
    throw e;
  } finally {
    labels?.dispose();
  }
}

export interface EdmSampleOptions extends SampleCommonOptions {
  /** Number of noise levels before the final 0 (default 18: 35 network calls with Heun). */
  steps?: number;
  solver?: 'euler' | 'heun';
  /** Explicit decreasing sigmas (the last usually 0); overrides steps. */
  sigmas?: number[];
  sChurn?: number;
  sTmin?: number;
  sTmax?: number;
  sNoise?: number;
}

/** The rho grid of an EDM schedule, or rho = 7 between sigma(tMax) and sigma(tMin) of a VE schedule. */
function defaultSigmas(schedule: NoiseSchedule, steps: number): number[] {
  if (schedule instanceof EdmSchedule) return schedule.sigmas(steps);
  if (schedule.kind !== 've') throw new Error('sampleEdm needs an edm or ve schedule');
  return new EdmSchedule({
    sigmaMin: schedule.sigma(schedule.tMin),
    sigmaMax: schedule.sigma(schedule.tMax),
  }).sigmas(steps);
}

/** EDM sampling from sigmas[0] N(0, I) down to the last sigma (0 by default). Returns x0-space samples. */
export function sampleEdm(denoiser: Denoiser, options: EdmSampleOptions): tf.Tensor4D {
  return runSteps(sampleEdmSteps(denoiser, options));
}

/** sampleEdm without blocking the event loop: yields between steps, so an abort is seen promptly. */
export function sampleEdmAsync(denoiser: Denoiser, options: EdmSampleOptions): Promise<tf.Tensor4D> {
  return runStepsAsync(sampleEdmSteps(denoiser, options));
}

/** The EDM sampler as a generator that pauses after every step (see stepping.ts). */
export function* sampleEdmSteps(denoiser: Denoiser, options: EdmSampleOptions): Generator<void, tf.Tensor4D> {
  const sigmas = options.sigmas ?? defaultSigmas(denoiser.schedule, options.steps ?? 18);
  const shape = batchShape(denoiser, options);
  const { model, labels } = conditioned(denoiser, options, shape[0]);
  const x = options.init
    ? options.init
    : tf.tidy(() => tf.mul(options.rng.normalTensor<tf.Tensor4D>(shape), sigmas[0] as number) as tf.Tensor4D);
  try {
    return yield* edmSampleSteps(model, x, {
      sigmas,
      solver: options.solver,
      sChurn: options.sChurn,
      sTmin: options.sTmin,
      sTmax: options.sTmax,
      sNoise: options.sNoise,
      rng: options.rng,
      labels,
      signal: options.signal,
      onNetworkCall: options.onNetworkCall,
      onStep:
        options.onStep &&
        ((info) => options.onStep?.({ step: info.step, total: info.total, t: info.sigma, x0: info.x0 })),
    });
  } finally {
    if (x !== options.init) x.dispose();
    labels?.dispose();
  }
}
