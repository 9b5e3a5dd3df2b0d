/**
 * CoPaint and CoPaint-TT (Zhang et al. 2023, "Towards coherent image inpainting using denoising
 * diffusion implicit models"), after the authors' O_DDIMSampler (UCSB-NLP-Chang/CoPaint,
 * guided_diffusion/ddim.py) and their configs/scripts:
 *
 * Before each deterministic DDIM step (eta = 0) from level t, the current z_t itself is optimised
 * by `gradSteps` gradient steps on
 *   L(z) = ||y - A(clip(D(x_hat(z, t))))||^2 + regCoef * ||z - z_t^origin||^2
 * (for inpainting the first term is their ||m * (x_gt - x_hat)||^2), differentiating through the
 * network; the step is z <- z - lr_t grad with
 * - lr_t = lr * growth^(reverse steps so far) * alpha_t / alpha_(grid level 0) (their
 *   `lr_xt_decay` = 1.012 per reverse step, undone on every time-travel step, and their
 *   `use_smart_lr_xt_decay` factor sqrt(abar_t / abar_0); alpha = 1 for VE/EDM makes it 1);
 * - adaptive backtracking (`use_adaptive_lr_xt`): the step is re-evaluated (one forward call) and,
 *   while the batch loss did not decrease, lr is multiplied by 0.8 and the step retried, at most
 *   `maxBacktracks` times (the original loops without a limit; we accept the last try).
 * The DDIM step then uses the prediction at the optimised z (x_hat clipped to [-1, 1] for pixel
 * priors, as their `process_xstart`).
 *
 * CoPaint-TT adds RePaint-style time travel on the same grid: the walk of schedule-grid.ts
 * `jumpSchedule(steps, jumpLength, jumpNSample)`; before each jump back the current z is optimised
 * once more at its level (`optimize_before_time_travel`), then noised one level at a time.
 *
 * Defaults (their imagenet config and scripts): 250 levels (respaced), gradSteps 2, lr 0.02,
 * growth 1.012, regCoef 0.01, adaptive on; TT: jumpLength 10, jumpNSample 2. Our grid ends with a
 * step to the clean level (theirs stops at the smallest grid time). Inpainting only (needs a mask).
 * Network calls per optimisation: gradSteps gradient calls, plus per gradient step the backtracking
 * evaluations (>= 1 each, forward) when adaptive, else 1 forward call for the final prediction;
 * without adaptivity a run costs exactly
 *   gradient = gradSteps * (reverse steps + jumps back), forward = reverse steps.
 */
import * as tf from '@tensorflow/tfjs';
import { denoise } from '../../networks/denoiser.js';
import type { MeasurementOperator } from '../../physics/operator.js';
import { ddimStep } from '../../sampling/ddim.js';
import { qStep } from '../../sampling/forward.js';
import type { DiffusionPrior } from '../prior.js';
import {
  checkCompatible,
  decodeClip,
  positiveInt,
  requireMask,
  residualSq,
  sampleCount,
  withState,
  yieldToLoop,
  type CommonSolverOptions,
  type SolverContext,
  startNoise,
} from './common.js';
import { emitPreview } from '../../io/preview.js';
import { gridLevel, jumpSchedule, timeGrid } from './schedule-grid.js';

export interface CopaintOptions extends CommonSolverOptions {
  steps?: number;
  gradSteps?: number;
  lr?: number;
  lrGrowth?: number;
  regCoef?: number;
  adaptiveLr?: boolean;
  maxBacktracks?: number;
  /** CoPaint-TT when true. */
  timeTravel?: boolean;
  jumpLength?: number;
  jumpNSample?: number;
  optimiseBeforeTimeTravel?: boolean;
}

export const COPAINT_DEFAULTS = {
  steps: 250,
  gradSteps: 2,
  lr: 0.02,
  lrGrowth: 1.012,
  regCoef: 0.01,
  adaptiveLr: true,
  maxBacktracks: 20,
  timeTravel: false,
  jumpLength: 10,
  jumpNSample: 2,
  optimiseBeforeTimeTravel: true,
} as const;

/** The level walk: plain CoPaint steps down once; CoPaint-TT follows the jump schedule. */
export function copaintSequence(opts: CopaintOptions = {}): number[] {
  const o = { ...COPAINT_DEFAULTS, ...opts };
  if (!o.timeTravel) return [...Array.from({ length: o.steps }, (_, i) => o.steps - 1 - i), -1];
  return jumpSchedule(o.steps, o.jumpLength, o.jumpNSample);
}

interface Prediction {
  eps: tf.Tensor4D;
  x0: tf.Tensor4D;
}

export async function copaint(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: CopaintOptions,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  const o = { ...COPAINT_DEFAULTS, ...opts };
  const method = o.timeTravel ? 'CoPaint-TT' : 'CoPaint';
  requireMask(op, method);
  checkCompatible(prior, op, method);
  const steps = positiveInt(o.steps, 'steps', method);
  const gradSteps = positiveInt(o.gradSteps, 'gradSteps', method);
  const n = sampleCount(opts, method);
  const schedule = prior.denoiser.schedule;
  const grid = timeGrid(schedule, steps);
  const seq = copaintSequence(o);
  const shape: [number, number, number, number] = [n, ...prior.latentShape];
  const alpha0 = schedule.alpha(grid[0] as number);
  const clipX0 = (x0: tf.Tensor4D): tf.Tensor4D =>
    prior.space === 'pixel' ? (tf.clipByValue(x0, -1, 1) as tf.Tensor4D) : x0;

  /** One network call: the prediction at z and the batch loss. */
  const evaluate = async (
    z: tf.Tensor4D,
    origin: tf.Tensor4D,
    t: number,
  ): Promise<{ pred: Prediction; loss: number }> => {
    const pred = denoise(prior.denoiser, z, t);
    const loss = tf.tidy(() =>
      tf.add(
        tf.sum(residualSq(op, tf.clipByValue(prior.decode(clipX0(pred.x0)), -1, 1) as tf.Tensor4D)),
        tf.mul(tf.sum(tf.square(tf.sub(z, origin))), o.regCoef),
      ),
    );
    const value = (await loss.data())[0] as number;
    loss.dispose();
    return { pred, loss: value };
  };

  /** Optimise z at level t; returns the new z and (when known) the prediction there. */
  const optimise = async (
    z0: tf.Tensor4D,
    t: number,
    lrStart: number,
  ): Promise<{ z: tf.Tensor4D; pred: Prediction | undefined }> => {
    const origin = z0;
    const lossAndGrad = tf.valueAndGrad((z: tf.Tensor4D) =>
      tf.tidy(() => {
        const x0 = clipX0(prior.denoiser.predictX0(z, t));
        return tf.add(
          tf.sum(residualSq(op, tf.clipByValue(prior.decode(x0), -1, 1) as tf.Tensor4D)),
          tf.mul(tf.sum(tf.square(tf.sub(z, origin))), o.regCoef),
        ) as tf.Scalar;
      }),
    );
    let z = tf.clone(z0);
    let pred: Prediction | undefined;
    let lr = lrStart;
    try {
      for (let g = 0; g < gradSteps; g++) {
        ctx.onCalls?.('gradient', 1);
        const { value, grad } = lossAndGrad(z);
        const loss = (await value.data())[0] as number;
        value.dispose();
        try {
          if (!o.adaptiveLr) {
            const next = tf.tidy(() => tf.sub(z, tf.mul(grad, lr)) as tf.Tensor4D);
            z.dispose();
            z = next;
            continue;
          }
          for (let tries = 0; ; tries++) {
            const next = tf.tidy(() => tf.sub(z, tf.mul(grad, lr)) as tf.Tensor4D);
            ctx.onCalls?.('forward', 1);
            const ev = await evaluate(next, origin, t);
            if ((Number.isFinite(ev.loss) && ev.loss <= loss) || tries >= o.maxBacktracks) {
              z.dispose();
              z = next;
              if (pred) {
                pred.eps.dispose();
                pred.x0.dispose();
              }
              pred = ev.pred;
              break;
            }
            next.dispose();
            ev.pred.eps.dispose();
            ev.pred.x0.dispose();
            lr *= 0.8;
          }
        } finally {
          grad.dispose();
        }
      }
      return { z, pred };
    } catch (e) {
      z.dispose();
      if (pred) {
        pred.eps.dispose();
        pred.x0.dispose();
      }
      throw e;
    }
  };

  return withState(async (state) => {
    const top = grid[steps - 1] as number;
    state.set('z', startNoise(schedule, top, shape, ctx.rng));
    let lr = o.lr;
    let lastWasReverse = false;
    for (let k = 1; k < seq.length; k++) {
      ctx.signal?.throwIfAborted();
      const a = seq[k - 1] as number;
      const b = seq[k] as number;
      const t = grid[a] as number;
      const lrHere = lr * (schedule.alpha(t) / alpha0);
      if (b < a) {
        const res = await optimise(state.get('z'), t, lrHere);
        state.set('z', res.z);
        let pred = res.pred;
        if (!pred) {
          ctx.onCalls?.('forward', 1);
          pred = denoise(prior.denoiser, res.z, t);
        }
        const next = tf.tidy(
          () =>
            ddimStep(schedule, {
              zt: res.z,
              eps: pred.eps,
              x0: clipX0(pred.x0),
              t,
              s: gridLevel(grid, b),
              eta: 0,
            }) as tf.Tensor4D,
        );
        emitPreview(ctx.preview, k, seq.length - 1, () => prior.decode(clipX0(pred.x0)));
        pred.eps.dispose();
        pred.x0.dispose();
        state.set('z', next);
        lr *= o.lrGrowth;
        lastWasReverse = true;
      } else {
        if (lastWasReverse && o.optimiseBeforeTimeTravel) {
          const res = await optimise(state.get('z'), t, lrHere);
          state.set('z', res.z);
          if (res.pred) {
            res.pred.eps.dispose();
            res.pred.x0.dispose();
          }
        }
        const noise = ctx.rng.normalTensor<tf.Tensor4D>(shape);
        state.set('z', qStep(schedule, state.get<tf.Tensor4D>('z'), t, grid[b] as number, noise));
        noise.dispose();
        lr /= o.lrGrowth;
        lastWasReverse = false;
      }
      ctx.onProgress?.({ step: k, total: seq.length - 1, phase: b < a ? 'reverse' : 'forward' });
      await yieldToLoop();
    }
    return decodeClip(prior, state.get<tf.Tensor4D>('z'));
  });
}

/** CoPaint-TT: CoPaint with time travel. */
export function copaintTT(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: Omit<CopaintOptions, 'timeTravel'>,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  return copaint(prior, op, { ...opts, timeTravel: true }, ctx);
}
