/**
 * THE interface every diffusion network implements, and a builder that turns a raw network
 * function into one.
 *
 * Conventions (all networks, all algorithms):
 * - Tensors are NHWC float32; z is a batch of noisy samples z_t = alpha_t x + sigma_t eps in the
 *   model's space ('pixel': images in [-1, 1]; 'latent': autoencoder codes, already scaled by the
 *   LDM's scale factor).
 * - `t` is the schedule's own time (see src/schedules/types.ts): an integer step index for a discrete
 *   VP schedule (the CompVis/diffusers timestep), t in [0, 1] for continuous VP / VE, and sigma
 *   itself for EDM. One number for the whole batch, or a Tensor1D with one time per sample.
 * - `labels` (Tensor1D of class indices, float or int) are passed to the network untouched; with
 *   `numClasses` set, label `numClasses` is the null class used for classifier-free guidance.
 * - predictEps / predictX0 each cost ONE network call; use `denoise` when both are needed.
 * - Everything is differentiable with respect to z and leaves no tensors behind but its result.
 */
import * as tf from '@tensorflow/tfjs';
import { edmPreconditioning } from '../schedules/edm.js';
import type { NoiseSchedule } from '../schedules/types.js';
import {
  levelCoefficients,
  outputToEps,
  outputToX0,
  x0ToEps,
  epsToX0,
  type Parameterization,
} from '../sampling/predictions.js';

export type { Parameterization } from '../sampling/predictions.js';

export interface Denoiser {
  readonly space: 'pixel' | 'latent';
  /** What the raw network predicts (an EDM-preconditioned network counts as 'x0': it yields D). */
  readonly parameterization: Parameterization;
  readonly schedule: NoiseSchedule;
  /** Class-conditional when set; label numClasses is the null (unconditional) class. */
  readonly numClasses?: number;
  /** H, W, C of one sample in its space. */
  readonly dataShape: [number, number, number];
  /** Predict epsilon for a batch z_t (NHWC) at time t (scalar or per-sample), optional labels. Differentiable. */
  predictEps(z: tf.Tensor4D, t: number | tf.Tensor1D, labels?: tf.Tensor1D): tf.Tensor4D;
  /** Predict the clean sample E[x | z_t] for a batch z_t. Differentiable. */
  predictX0(z: tf.Tensor4D, t: number | tf.Tensor1D, labels?: tf.Tensor1D): tf.Tensor4D;
}

/**
 * A raw network: `zIn` is the (possibly preconditioned) input, `tIn` one network time value per
 * sample (length B, always a tensor), `labels` as given to the Denoiser.
 */
export type RawNetwork = (zIn: tf.Tensor4D, tIn: tf.Tensor1D, labels?: tf.Tensor1D) => tf.Tensor4D;

export interface DenoiserOptions {
  net: RawNetwork;
  /** What `net` predicts: 'eps', 'x0' or 'v' ('x0' with EDM preconditioning: F, combined into D). */
  parameterization: Parameterization;
  schedule: NoiseSchedule;
  space: 'pixel' | 'latent';
  dataShape: [number, number, number];
  numClasses?: number;
  /**
   * 'edm': the network is F of Karras et al. (Table 1): it receives c_in(sigma) z and c_noise(sigma),
   * and D = c_skip z + c_out F. Needs alpha = 1 and parameterization 'x0'.
   * Default: 'edm' on an EDM schedule, 'none' otherwise.
   */
  preconditioning?: 'none' | 'edm';
  /** sigma_data of the EDM preconditioning (default: the EDM schedule's, else 0.5). */
  sigmaData?: number;
  /**
   * The network's time input as a function of schedule time. Defaults: VP (discrete or
   * continuous): t itself; VE: sigma_t; EDM preconditioning: c_noise = ln(sigma)/4.
   * Example: score-SDE DDPM-style VP networks want 999 t.
   */
  timeInput?: (t: number) => number;
}

function timesOf(t: number | tf.Tensor1D, batch: number): number[] {
  if (typeof t === 'number') return new Array<number>(batch).fill(t);
  const ts = Array.from(t.dataSync());
  if (ts.length !== batch) throw new Error(`denoiser: ${ts.length} times for a batch of ${batch}`);
  return ts;
}

/** Per-sample coefficient as a number when all equal, else a [B,1,1,1] tensor. */
function coef(values: number[]): number | tf.Tensor4D {
  const first = values[0] as number;
  if (values.every((v) => v === first)) return first;
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

/** Build a Denoiser from a raw network function. */
export function makeDenoiser(options: DenoiserOptions): Denoiser {
  const { net, parameterization, schedule } = options;
  const precond = options.preconditioning ?? (schedule.kind === 'edm' ? 'edm' : 'none');
  if (precond === 'edm') {
    if (parameterization !== 'x0') {
      throw new Error(
        `EDM preconditioning yields D (an x0 prediction); parameterization '${parameterization}' given`,
      );
    }
    if (schedule.kind === 'vp') throw new Error('EDM preconditioning needs alpha = 1 (a VE or EDM schedule)');
  }
  const sigmaData =
    options.sigmaData ??
    ('sigmaData' in schedule && typeof schedule.sigmaData === 'number' ? schedule.sigmaData : 0.5);
  const timeInput =
    options.timeInput ??
    (precond === 'edm'
      ? (t: number) => Math.log(schedule.sigma(t)) / 4
      : schedule.kind === 'vp'
        ? (t: number) => t
        : (t: number) => schedule.sigma(t));

  /** The network's prediction converted to the requested target, one call. */
  function run(
    target: 'eps' | 'x0',
    z: tf.Tensor4D,
    t: number | tf.Tensor1D,
    labels: tf.Tensor1D | undefined,
  ): tf.Tensor4D {
    return tf.tidy(() => {
      const batch = z.shape[0];
      const ts = timesOf(t, batch);
      ts.forEach((v) => schedule.checkTime(v));
      const tIn = tf.tensor1d(ts.map(timeInput));
      if (precond === 'edm') {
        const c = ts.map((v) => edmPreconditioning(schedule.sigma(v), sigmaData));
        const f = net(tf.mul(z, coef(c.map((p) => p.cIn))) as tf.Tensor4D, tIn, labels);
        const d = tf.add(
          tf.mul(z, coef(c.map((p) => p.cSkip))),
          tf.mul(f, coef(c.map((p) => p.cOut))),
        ) as tf.Tensor4D;
        return target === 'x0' ? d : x0ToEps(z, d, 1, coef(ts.map((v) => schedule.sigma(v))));
      }
      const out = net(z, tIn, labels);
      const { alpha, sigma } = levelCoefficients(schedule, typeof t === 'number' ? t : tf.tensor1d(ts));
      return target === 'x0'
        ? outputToX0(parameterization, z, out, alpha, sigma)
        : outputToEps(parameterization, z, out, alpha, sigma);
    });
  }

  return {
    space: options.space,
    parameterization,
    schedule,
    numClasses: options.numClasses,
    dataShape: options.dataShape,
    predictEps: (z, t, labels) => run('eps', z, t, labels),
    predictX0: (z, t, labels) => run('x0', z, t, labels),
  };
}

/**
 * Both predictions from ONE network call: the denoiser's native one, the other converted
 * (eps for 'eps' networks, x0 otherwise). Caller disposes both.
 */
export function denoise(
  d: Denoiser,
  z: tf.Tensor4D,
  t: number | tf.Tensor1D,
  labels?: tf.Tensor1D,
): { eps: tf.Tensor4D; x0: tf.Tensor4D } {
  const coefs = (): { alpha: number | tf.Tensor; sigma: number | tf.Tensor } =>
    typeof t === 'number' ? d.schedule.level(t) : levelCoefficients(d.schedule, t);
  if (d.parameterization === 'eps') {
    const eps = d.predictEps(z, t, labels);
    const x0 = tf.tidy(() => {
      const { alpha, sigma } = coefs();
      return epsToX0(z, eps, alpha, sigma);
    });
    return { eps, x0 };
  }
  const x0 = d.predictX0(z, t, labels);
  const eps = tf.tidy(() => {
    const { alpha, sigma } = coefs();
    return x0ToEps(z, x0, alpha, sigma);
  });
  return { eps, x0 };
}

/** A Denoiser that reports each network call (with its batch size) before making it. */
export function countCalls(d: Denoiser, onCall: (batch: number) => void): Denoiser {
  return {
    space: d.space,
    parameterization: d.parameterization,
    schedule: d.schedule,
    numClasses: d.numClasses,
    dataShape: d.dataShape,
    predictEps: (z, t, labels) => {
      onCall(z.shape[0]);
      return d.predictEps(z, t, labels);
    },
    predictX0: (z, t, labels) => {
      onCall(z.shape[0]);
      return d.predictX0(z, t, labels);
    },
  };
}
