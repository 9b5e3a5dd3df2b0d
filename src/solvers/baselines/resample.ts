/**
 * ReSample (Song et al. 2024, "Solving inverse problems with latent diffusion models via hard data
 * consistency"), following the authors' `resample_sampling` (soominkwon/resample, ldm/models/
 * diffusion/ddim.py) on a VP schedule:
 *
 * For each of `steps` DDIM levels t -> s (index = steps - 1 - i counts down to 0):
 * 1. z_s = DDIM(z_t) - dpsScale * abar_t * grad_{z_t} ||y - A(D(x_hat(z_t)))||  (their DPS step with
 *    scale 0.5 abar_t; one gradient call; dpsScale = 0 turns it off and the call is a forward one).
 * 2. Hard data consistency when 0 < index <= steps - floor(steps / 3) and index % interval == 0:
 *    a. look ahead: `lookahead` further unconditional DDIM steps from z_s (forward calls, at most
 *       down to the last level) and take the last Tweedie estimate x_hat as z0';
 *    b. optimise: while index >= floor(steps / 3) ("stage 2") in PIXEL space,
 *       x* = argmin_x mean (y - A x)^2 from D(z0') (unclipped; Adam, lr 1e-2), then z0* = E(x*); below that
 *       ("stage 3") in LATENT space, z0* = argmin_z mean (y - A(D(z)))^2 from z0' (Adam, lr 5e-3);
 *       `optSteps` iterations each (the paper's appendix E.2 cuts the authors' up-to-2000 / 500 to 50),
 *       stopping early once the mean squared residual is below 1e-6;
 *    c. stochastic resampling of z_s towards z0* (their Eq. for ReSample; `stochastic_resample`):
 *       with a = abar_s and v = gamma (1 - abar_s)/(1 - abar_t) (1 - abar_t/abar_s), gamma = 40,
 *       z_s ~ N( (v sqrt(a) z0* + (1 - a) z_s) / (v + 1 - a),  1 / (1/v + 1/(1 - a)) I ).
 * 3. After the last step, a final latent optimisation of z_0 (`optSteps` iterations) as in their
 *    code, then decode.
 *
 * Simplifications (say so when comparing): Adam without AdamW's weight decay; the authors' plateau
 * early-stopping rule (compare with the loss 200 iterations earlier) is dropped since only 50
 * iterations run; measurement-noise-dependent tolerances are replaced by the fixed 1e-6; the mask
 * argument of their sampler (unused for inverse problems) is omitted. VP schedules only (the method
 * is written with abar); pixel priors work with D = E = identity.
 * Defaults: 500 levels, DDIM eta 0, dpsScale 0.5, interval 10, lookahead 5, optSteps 50, gamma 40.
 * Network calls: `steps` gradient calls (forward if dpsScale = 0) plus, per consistency step at
 * loop position i, min(lookahead, steps - 1 - i) forward calls (1 when lookahead = 0: the Tweedie
 * estimate at z_s itself; `resampleCallCounts`).
 */
import * as tf from '@tensorflow/tfjs';
import { denoise } from '../../networks/denoiser.js';
import type { MeasurementOperator } from '../../physics/operator.js';
import { ddimStep, ddimStepMeanStd } from '../../sampling/ddim.js';
import { CLEAN, type TimeOrLevel } from '../../schedules/types.js';
import type { Rng } from '../../util/random.js';
import type { CallCounts, DiffusionPrior } from '../prior.js';
import {
  AdamState,
  checkCompatible,
  decodeClip,
  positiveInt,
  sampleCount,
  withState,
  yieldToLoop,
  type CommonSolverOptions,
  type SolverContext,
} from './common.js';
import { emitPreview } from '../../io/preview.js';
import { guidedGradient } from './dps.js';
import { timeGrid } from './schedule-grid.js';

export interface ResampleOptions extends CommonSolverOptions {
  steps?: number;
  eta?: number;
  /** Multiplier of abar_t for the DPS step, default 0.5; 0 disables it. */
  dpsScale?: number;
  /** Consistency every `interval` indices, default 10. */
  interval?: number;
  /** Unconditional look-ahead steps before each optimisation, default 5. */
  lookahead?: number;
  /** Optimisation iterations per consistency step, default 50. */
  optSteps?: number;
  pixelLr?: number;
  latentLr?: number;
  /** gamma of the resampling variance, default 40. */
  gamma?: number;
}

export const RESAMPLE_DEFAULTS = {
  steps: 500,
  eta: 0,
  dpsScale: 0.5,
  interval: 10,
  lookahead: 5,
  optSteps: 50,
  pixelLr: 1e-2,
  latentLr: 5e-3,
  gamma: 40,
} as const;

/** Which loop positions i do hard consistency, and in which stage. */
export function resampleConsistencySteps(
  steps: number,
  interval: number,
): { i: number; stage: 'pixel' | 'latent' }[] {
  const split = Math.floor(steps / 3);
  const out: { i: number; stage: 'pixel' | 'latent' }[] = [];
  for (let i = 0; i < steps; i++) {
    const index = steps - 1 - i;
    if (index > 0 && index <= steps - split && index % interval === 0) {
      out.push({ i, stage: index >= split ? 'pixel' : 'latent' });
    }
  }
  return out;
}

/** The exact network-call counts of a ReSample run. */
export function resampleCallCounts(opts: ResampleOptions = {}): CallCounts {
  const steps = opts.steps ?? RESAMPLE_DEFAULTS.steps;
  const lookahead = opts.lookahead ?? RESAMPLE_DEFAULTS.lookahead;
  const dps = (opts.dpsScale ?? RESAMPLE_DEFAULTS.dpsScale) > 0;
  let forward = dps ? 0 : steps;
  for (const { i } of resampleConsistencySteps(steps, opts.interval ?? RESAMPLE_DEFAULTS.interval)) {
    forward += lookahead === 0 ? 1 : Math.min(lookahead, steps - 1 - i);
  }
  return { forward, gradient: dps ? steps : 0 };
}

/** Adam on mean_j (y - A(map(v)))_j^2 per sample (summed over the batch); returns the new tensor. */
async function minimiseResidual(
  op: MeasurementOperator,
  start: tf.Tensor4D,
  map: (v: tf.Tensor4D) => tf.Tensor4D,
  iterations: number,
  lr: number,
  signal: AbortSignal | undefined,
): Promise<tf.Tensor4D> {
  const m = op.outputShape.reduce((a, b) => a * b, 1);
  const n = start.shape[0];
  const lossAndGrad = tf.valueAndGrad((v: tf.Tensor4D) =>
    tf.tidy(() => tf.div(tf.sum(tf.square(tf.sub(op.y, op.forward(map(v))))), m) as tf.Scalar),
  );
  const adam = new AdamState();
  let v = tf.clone(start);
  try {
    for (let k = 0; k < iterations; k++) {
      signal?.throwIfAborted();
      const { value, grad } = lossAndGrad(v);
      const loss = (await value.data())[0] as number;
      value.dispose();
      if (loss / n < 1e-6) {
        grad.dispose();
        break;
      }
      const next = adam.step(v, grad as tf.Tensor4D, lr);
      grad.dispose();
      v.dispose();
      v = next;
    }
    return v;
  } catch (e) {
    v.dispose();
    throw e;
  } finally {
    adam.dispose();
  }
}

function stochasticResample(
  zs: tf.Tensor4D,
  z0: tf.Tensor4D,
  abarS: number,
  v: number,
  rng: Rng,
): tf.Tensor4D {
  const noise = rng.normalTensor<tf.Tensor4D>(zs.shape as number[]);
  try {
    return tf.tidy(() => {
      const mean = tf.div(tf.add(tf.mul(z0, v * Math.sqrt(abarS)), tf.mul(zs, 1 - abarS)), v + 1 - abarS);
      const std = Math.sqrt(1 / (1 / v + 1 / (1 - abarS)));
      return tf.add(mean, tf.mul(noise, std)) as tf.Tensor4D;
    });
  } finally {
    noise.dispose();
  }
}

export async function resample(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: ResampleOptions,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  const method = 'ReSample';
  checkCompatible(prior, op, method);
  const schedule = prior.denoiser.schedule;
  if (schedule.kind !== 'vp')
    throw new Error(`${method} needs a VP schedule (abar_t), got '${schedule.kind}'`);
  const o = { ...RESAMPLE_DEFAULTS, ...opts };
  const steps = positiveInt(o.steps, 'steps', method);
  const interval = positiveInt(o.interval, 'interval', method);
  const n = sampleCount(opts, method);
  const times = timeGrid(schedule, steps).reverse();
  const levelAt = (i: number): TimeOrLevel => (i < times.length ? (times[i] as number) : CLEAN);
  const abar = (l: TimeOrLevel): number => {
    const { alpha } = typeof l === 'number' ? schedule.level(l) : l;
    return alpha * alpha;
  };
  const consistency = new Map(resampleConsistencySteps(steps, interval).map((c) => [c.i, c.stage]));
  const shape: [number, number, number, number] = [n, ...prior.latentShape];
  const ddim = (
    z: tf.Tensor4D,
    eps: tf.Tensor4D,
    x0: tf.Tensor4D,
    t: number,
    s: TimeOrLevel,
  ): tf.Tensor4D => {
    const std = ddimStepMeanStd(schedule, t, s, o.eta).std;
    const noise = std > 0 ? ctx.rng.normalTensor<tf.Tensor4D>(shape) : undefined;
    try {
      return ddimStep(schedule, { zt: z, eps, x0, t, s, eta: o.eta, noise }) as tf.Tensor4D;
    } finally {
      noise?.dispose();
    }
  };
  const identity = (v: tf.Tensor4D): tf.Tensor4D => v;
  return withState(async (state) => {
    state.set('z', ctx.rng.normalTensor<tf.Tensor4D>(shape));
    for (let i = 0; i < steps; i++) {
      ctx.signal?.throwIfAborted();
      const t = times[i] as number;
      const s = levelAt(i + 1);
      const z = state.get<tf.Tensor4D>('z');
      if (o.dpsScale > 0) {
        ctx.onCalls?.('gradient', 1);
        const g = guidedGradient(prior, op, z, t);
        const prev = ddim(z, g.eps, g.x0, t, s);
        state.set(
          'z',
          tf.tidy(() => tf.sub(prev, tf.mul(g.grad, o.dpsScale * abar(t))) as tf.Tensor4D),
        );
        prev.dispose();
        emitPreview(ctx.preview, i + 1, steps, () => prior.decode(g.x0));
        g.grad.dispose();
        g.x0.dispose();
        g.eps.dispose();
      } else {
        ctx.onCalls?.('forward', 1);
        const p = denoise(prior.denoiser, z, t);
        state.set('z', ddim(z, p.eps, p.x0, t, s));
        emitPreview(ctx.preview, i + 1, steps, () => prior.decode(p.x0));
        p.eps.dispose();
        p.x0.dispose();
      }
      const stage = consistency.get(i);
      if (stage) {
        // a. look ahead from z_s; z0' = the last Tweedie estimate.
        state.set('look', tf.clone(state.get<tf.Tensor4D>('z')));
        const ahead = Math.min(o.lookahead, steps - 1 - i);
        for (let k = 0; k < ahead; k++) {
          const tk = times[i + 1 + k] as number;
          const look = state.get<tf.Tensor4D>('look');
          ctx.onCalls?.('forward', 1);
          const p = denoise(prior.denoiser, look, tk);
          state.set('z0', p.x0);
          state.set('look', ddim(look, p.eps, p.x0, tk, levelAt(i + 2 + k)));
          p.eps.dispose();
        }
        if (ahead === 0) {
          ctx.onCalls?.('forward', 1);
          const p = denoise(prior.denoiser, state.get<tf.Tensor4D>('z'), s as number);
          state.set('z0', p.x0);
          p.eps.dispose();
        }
        // b. hard data consistency by optimisation.
        const z0 = state.get<tf.Tensor4D>('z0');
        if (stage === 'pixel') {
          // In state slots so that an abort inside the optimisation leaks nothing.
          state.set('x', prior.decode(z0));
          state.set(
            'x',
            await minimiseResidual(op, state.get('x'), identity, o.optSteps, o.pixelLr, ctx.signal),
          );
          state.set('z0', prior.encode(state.get('x')));
        } else {
          state.set(
            'z0',
            await minimiseResidual(op, z0, (v) => prior.decode(v), o.optSteps, o.latentLr, ctx.signal),
          );
        }
        // c. stochastic resampling of z_s towards the consistent z0*.
        const aT = abar(t);
        const aS = abar(s);
        const v = (o.gamma * (1 - aS) * (1 - aT / aS)) / (1 - aT);
        state.set('z', stochasticResample(state.get('z'), state.get('z0'), aS, v, ctx.rng));
      }
      ctx.onProgress?.({ step: i + 1, total: steps, phase: stage ? 'consistency' : 'reverse' });
      await yieldToLoop();
    }
    state.set(
      'z',
      await minimiseResidual(op, state.get('z'), (v) => prior.decode(v), o.optSteps, o.latentLr, ctx.signal),
    );
    return decodeClip(prior, state.get<tf.Tensor4D>('z'));
  });
}
