/**
 * RePaint (Lugmayr et al. 2022): replacement inpainting (replacement.ts) along the resampling
 * ("jump") time sequence of schedule-grid.ts `jumpSchedule`: on a grid of tT levels, walk down one
 * level per reverse step; at every multiple of the jump length (below tT - L) go back up L levels
 * with the forward process q(z_{i+1} | z_i), jumpNSample - 1 times, and walk down again. Observed
 * entries are replaced by the noised observation before every reverse step and set to y at the end.
 *
 * Choices: tT = 256 levels (the paper's "256 steps"; RePaint's own configs use 250 respaced steps),
 * jump length 10, 10 resamplings, n_sample = 1 (their configs), the ancestral (DDPM / VE) reverse
 * step, one-level forward steps with fresh noise (their `undo`), the last step to the clean level;
 * pixel priors clip x_hat to [-1, 1] inside the step (their `clip_denoised: true`; option clipX0).
 * Network calls: the number of decreasing pairs of the sequence,
 *   tT + (jumpNSample - 1) * jumpLength * |{0, L, 2L, ... < tT - L}|,
 * e.g. 256 + 9 * 10 * 25 = 2506 for the defaults (schedule-grid.ts `reverseStepCount`).
 */
import * as tf from '@tensorflow/tfjs';
import { denoise } from '../../networks/denoiser.js';
import type { MeasurementOperator } from '../../physics/operator.js';
import { ancestralStep } from '../../sampling/ancestral.js';
import { qStep } from '../../sampling/forward.js';
import { CLEAN } from '../../schedules/types.js';
import type { DiffusionPrior } from '../prior.js';
import {
  checkCompatible,
  decodeClip,
  positiveInt,
  requireMask,
  sampleCount,
  withState,
  yieldToLoop,
  type CommonSolverOptions,
  type LatentMaskRule,
  type SolverContext,
  startNoise,
} from './common.js';
import { emitPreview } from '../../io/preview.js';
import { Replacement } from './replacement.js';
import { gridLevel, jumpSchedule, timeGrid } from './schedule-grid.js';

export interface RepaintOptions extends CommonSolverOptions {
  /** Latent priors: which latent elements count as observed (default 'all'; common.ts). */
  latentMask?: LatentMaskRule;
  /** Levels of the grid, default 256. */
  steps?: number;
  /** Jump length L, default 10. */
  jumpLength?: number;
  /** Resamplings per jump point (jump_n_sample), default 10. */
  resamplings?: number;
  /** Clip x_hat to [-1, 1] in the reverse step (default: pixel priors only). */
  clipX0?: boolean;
}

export const REPAINT_DEFAULTS = { steps: 256, jumpLength: 10, resamplings: 10 } as const;

export async function repaint(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: RepaintOptions,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  const method = 'RePaint';
  requireMask(op, method);
  checkCompatible(prior, op, method);
  const tT = positiveInt(opts.steps ?? REPAINT_DEFAULTS.steps, 'steps', method);
  const jl = positiveInt(opts.jumpLength ?? REPAINT_DEFAULTS.jumpLength, 'jumpLength', method);
  const jn = positiveInt(opts.resamplings ?? REPAINT_DEFAULTS.resamplings, 'resamplings', method);
  const n = sampleCount(opts, method);
  const clip = opts.clipX0 ?? prior.space === 'pixel';
  const schedule = prior.denoiser.schedule;
  const grid = timeGrid(schedule, tT);
  const seq = jumpSchedule(tT, jl, jn);
  const shape: [number, number, number, number] = [n, ...prior.latentShape];
  const repl = await Replacement.create(prior, op, method, opts.latentMask);
  try {
    return await withState(async (state) => {
      const top = grid[tT - 1] as number;
      state.set('z', startNoise(schedule, top, shape, ctx.rng));
      const total = seq.length - 1;
      for (let k = 1; k < seq.length; k++) {
        ctx.signal?.throwIfAborted();
        const a = seq[k - 1] as number;
        const b = seq[k] as number;
        const la = gridLevel(grid, a);
        const lb = gridLevel(grid, b);
        if (b < a) {
          const t = la as number;
          const z = state.set('z', repl.apply(state.get('z'), t, ctx.rng));
          ctx.onCalls?.('forward', 1);
          const pred = denoise(prior.denoiser, z, t);
          const noise = b >= 0 ? ctx.rng.normalTensor<tf.Tensor4D>(shape) : undefined;
          const next = tf.tidy(() => {
            const x0 = clip ? tf.clipByValue(pred.x0, -1, 1) : pred.x0;
            return ancestralStep(schedule, { zt: z, x0, t, s: lb, noise }) as tf.Tensor4D;
          });
          noise?.dispose();
          emitPreview(ctx.preview, k, total, () => prior.decode(pred.x0));
          pred.eps.dispose();
          pred.x0.dispose();
          state.set('z', next);
        } else {
          const noise = ctx.rng.normalTensor<tf.Tensor4D>(shape);
          const next = qStep(schedule, state.get<tf.Tensor4D>('z'), la, lb, noise);
          noise.dispose();
          state.set('z', next);
        }
        ctx.onProgress?.({ step: k, total, phase: b < a ? 'reverse' : 'forward' });
        await yieldToLoop();
      }
      const final = state.set('z', repl.apply(state.get('z'), CLEAN, ctx.rng));
      return decodeClip(prior, final);
    });
  } finally {
    repl.dispose();
  }
}
