/**
 * Blended diffusion, the "replacement" method for inpainting (Song et al. 2021b, appendix; the
 * paper's "Blended"): unconditional ancestral steps where, before every step, the observed region
 * is replaced by the observation noised to the current level (replacement.ts), and the observed
 * region is set to y after the last step.
 *
 * Choices: 1000 levels (the paper's appendix E.2, EDM and LDM alike; for latent priors the LDM's
 * 1000 steps), the ancestral step (DDIM eta = 1: DDPM for VP, the VE ancestral rule for EDM), the
 * last step to the clean level. Latent priors use the min-pooled mask and E(y) (replacement.ts).
 * Needs an operator with a mask. Network calls: `steps` forward calls.
 */
import * as tf from '@tensorflow/tfjs';
import { denoise } from '../../networks/denoiser.js';
import type { MeasurementOperator } from '../../physics/operator.js';
import { ddimStep, ddimStepMeanStd } from '../../sampling/ddim.js';
import { CLEAN, type TimeOrLevel } from '../../schedules/types.js';
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
import { timeGrid } from './schedule-grid.js';

export interface BlendedOptions extends CommonSolverOptions {
  /** Latent priors: which latent elements count as observed (default 'all'; common.ts). */
  latentMask?: LatentMaskRule;
  /** Reverse steps (network calls), default 1000. */
  steps?: number;
  /** DDIM stochasticity, default 1 (ancestral). */
  eta?: number;
}

export const BLENDED_DEFAULTS = { steps: 1000, eta: 1 } as const;

export async function blended(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: BlendedOptions,
  ctx: SolverContext,
): Promise<tf.Tensor4D> {
  const method = 'Blended';
  requireMask(op, method);
  checkCompatible(prior, op, method);
  const steps = positiveInt(opts.steps ?? BLENDED_DEFAULTS.steps, 'steps', method);
  const eta = opts.eta ?? BLENDED_DEFAULTS.eta;
  const n = sampleCount(opts, method);
  const schedule = prior.denoiser.schedule;
  const times = timeGrid(schedule, steps).reverse();
  const shape: [number, number, number, number] = [n, ...prior.latentShape];
  const repl = await Replacement.create(prior, op, method, opts.latentMask);
  try {
    return await withState(async (state) => {
      const top = times[0] as number;
      state.set('z', startNoise(schedule, top, shape, ctx.rng));
      for (let i = 0; i < times.length; i++) {
        ctx.signal?.throwIfAborted();
        const t = times[i] as number;
        const s: TimeOrLevel = i + 1 < times.length ? (times[i + 1] as number) : CLEAN;
        const z = state.set('z', repl.apply(state.get('z'), t, ctx.rng));
        ctx.onCalls?.('forward', 1);
        const pred = denoise(prior.denoiser, z, t);
        const std = ddimStepMeanStd(schedule, t, s, eta).std;
        const noise = std > 0 ? ctx.rng.normalTensor<tf.Tensor4D>(shape) : undefined;
        const next = ddimStep(schedule, {
          zt: z,
          eps: pred.eps,
          x0: pred.x0,
          t,
          s,
          eta,
          noise,
        }) as tf.Tensor4D;
        noise?.dispose();
        emitPreview(ctx.preview, i + 1, times.length, () => prior.decode(pred.x0));
        pred.eps.dispose();
        pred.x0.dispose();
        state.set('z', next);
        ctx.onProgress?.({ step: i + 1, total: times.length, phase: 'reverse' });
        await yieldToLoop();
      }
      const final = state.set('z', repl.apply(state.get('z'), CLEAN, ctx.rng));
      return decodeClip(prior, final);
    });
  } finally {
    repl.dispose();
  }
}
