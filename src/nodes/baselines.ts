/**
 * The paper's baselines as nodes (docs/method.md section 7), all with one shape: inputs model,
 * operator and an optional class label; params `samples`, `guidance` and the method's own
 * hyperparameters (defaults from src/solvers/baselines, overridable); output the N decoded
 * samples. Every network call is counted (forward vs differentiated) into run.json.
 */
import type * as tf from '@tensorflow/tfjs';
import { defineNode, type NodeDefinition } from './define.js';
import {
  guidanceParams,
  perceptualInput,
  perceptualOption,
  perceptualParams,
  solverInputs,
  solverSetup,
} from './solver-inputs.js';
import { Rng } from '../util/random.js';
import type { Solver } from '../solvers/baselines/common.js';
import { dps, DPS_DEFAULTS } from '../solvers/baselines/dps.js';
import { psld, PSLD_DEFAULTS } from '../solvers/baselines/psld.js';
import { resample, RESAMPLE_DEFAULTS } from '../solvers/baselines/resample.js';
import { redDiff, RED_DIFF_DEFAULTS } from '../solvers/baselines/red-diff.js';
import { blended, BLENDED_DEFAULTS } from '../solvers/baselines/blended.js';
import { repaint, REPAINT_DEFAULTS } from '../solvers/baselines/repaint.js';
import { LATENT_MASK_RULES } from '../solvers/baselines/common.js';
import { copaint, COPAINT_DEFAULTS } from '../solvers/baselines/copaint.js';

type Props = Record<string, Record<string, unknown>>;

/** The replacement methods' latent-mask rule (common.ts `maskInPriorSpace`). */
const latentMaskProp = {
  enum: [...LATENT_MASK_RULES],
  description:
    "latent priors: a latent element is observed when all (default) or at least half ('majority') of its pixel footprint is",
};

const num = (description: string, extra: Record<string, unknown> = {}) => ({
  type: 'number',
  description,
  ...extra,
});
const int = (description: string, extra: Record<string, unknown> = {}) => ({
  type: 'integer',
  minimum: 1,
  description,
  ...extra,
});

function baselineNode<O extends object>(
  type: string,
  description: string,
  solver: Solver<O>,
  props: Props,
  space?: 'pixel' | 'latent',
  /** Whether the method takes an optional perceptual model (input `perceptual`, param `perceptualWeight`). */
  perceptual = false,
  /** Part of the cache key: bump when a default changes. */
  version = 1,
): NodeDefinition<never> {
  return defineNode<O & { samples: number; guidance: number; perceptualWeight?: number }>({
    type,
    version,
    finiteOutputs: true,
    category: 'baseline',
    description,
    inputs: perceptual ? { ...solverInputs, ...perceptualInput } : solverInputs,
    outputs: { image: { type: 'image', description: 'N decoded samples in [-1, 1]' } },
    params: {
      type: 'object',
      properties: {
        samples: { type: 'integer', minimum: 1, default: 4, description: 'number of samples N (one batch)' },
        ...guidanceParams,
        ...props,
        ...(perceptual ? perceptualParams : {}),
      },
    },
    async run(inputs, params, ctx) {
      const { prior, op, onCalls } = solverSetup(inputs, params, ctx, { space });
      const { guidance: _g, perceptualWeight: _w, ...opts } = params;
      const term = perceptual ? perceptualOption(inputs, params, op, ctx.nodeId) : undefined;
      const withTerm = term ? { ...opts, perceptual: term } : opts;
      const image = await solver(prior, op, withTerm as unknown as O, {
        rng: new Rng(ctx.seed),
        signal: ctx.signal,
        onCalls,
        onProgress: (p) => ctx.progress({ step: p.step, total: p.total, message: p.phase }),
        preview: ctx.preview,
      });
      return { image: image as tf.Tensor4D };
    },
  }) as unknown as NodeDefinition<never>;
}

export const BASELINE_NODES: NodeDefinition<never>[] = [
  baselineNode(
    'baseline.dps',
    'DPS (Chung et al. 2023): reverse diffusion with a likelihood-gradient step (pixel or latent prior)',
    dps,
    {
      steps: int(
        `reverse steps (default ${DPS_DEFAULTS.pixel.steps} pixel, ${DPS_DEFAULTS.latent.steps} latent)`,
      ),
      scale: num(
        `gradient step size (default ${DPS_DEFAULTS.pixel.scale} pixel, ${DPS_DEFAULTS.latent.scale} latent, ${DPS_DEFAULTS.latentPerceptualScale} latent with a perceptual model)`,
        { minimum: 0 },
      ),
      eta: num('DDIM eta (default 1 pixel, 0 latent)', { minimum: 0, maximum: 1 }),
      clipX0: { type: 'boolean', description: 'clip x_hat to [-1, 1] (default: pixel priors)' },
    },
    undefined,
    true,
  ),
  baselineNode(
    'baseline.psld',
    'PSLD (Rout et al. 2023): latent DPS plus the gluing term through the encoder',
    psld,
    {
      steps: int(`reverse steps (default ${PSLD_DEFAULTS.steps})`),
      scale: num(`measurement step size omega (default ${PSLD_DEFAULTS.scale})`, { minimum: 0 }),
      gamma: num(`gluing step size (default ${PSLD_DEFAULTS.gamma})`, { minimum: 0 }),
      eta: num('DDIM eta (default 0)', { minimum: 0, maximum: 1 }),
    },
    'latent',
  ),
  baselineNode(
    'baseline.resample',
    'ReSample (Song et al. 2024): latent DDIM with hard data consistency by optimisation and stochastic resampling',
    resample,
    {
      steps: int(`reverse steps (default ${RESAMPLE_DEFAULTS.steps})`),
      eta: num('DDIM eta (default 0)', { minimum: 0, maximum: 1 }),
      dpsScale: num(`DPS step multiplier (default ${RESAMPLE_DEFAULTS.dpsScale}; 0 disables)`, {
        minimum: 0,
      }),
      interval: int(`hard consistency every N steps (default ${RESAMPLE_DEFAULTS.interval})`),
      lookahead: {
        type: 'integer',
        minimum: 0,
        description: `look-ahead steps (default ${RESAMPLE_DEFAULTS.lookahead})`,
      },
      optSteps: int(`optimisation iterations per consistency step (default ${RESAMPLE_DEFAULTS.optSteps})`),
      gamma: num(`resampling variance gamma (default ${RESAMPLE_DEFAULTS.gamma})`, { exclusiveMinimum: 0 }),
    },
    'latent',
  ),
  baselineNode(
    'baseline.red-diff',
    'RED-diff (Mardani et al. 2024): variational optimisation with a score-matching regulariser',
    redDiff,
    {
      steps: int(`iterations = network calls (default ${RED_DIFF_DEFAULTS.steps})`),
      lambda: num(
        `prior weight (default ${RED_DIFF_DEFAULTS.lambda} on pixel priors, ${RED_DIFF_DEFAULTS.latentLambda} on latent priors; docs/method.md)`,
        { minimum: 0 },
      ),
      obsWeight: num('data-term weight (default 1)', { minimum: 0 }),
      lr: num(`Adam learning rate (default ${RED_DIFF_DEFAULTS.lr})`, { exclusiveMinimum: 0 }),
      times: {
        enum: ['annealed', 'random'],
        description: "'annealed' (RED-diff, default) or 'random' (RED-diff-V)",
      },
      sigmaX0: num('std of q(x0) around its mean (default 0: a point mass)', { minimum: 0 }),
    },
    undefined,
    false,
    2, // latent priors' default lambda 0.25 (was 50)
  ),
  baselineNode(
    'baseline.blended',
    'Blended diffusion: replace the observed region with the noised observation at every step',
    blended,
    {
      steps: int(`reverse steps (default ${BLENDED_DEFAULTS.steps})`),
      eta: num('DDIM eta (default 1: ancestral)', { minimum: 0, maximum: 1 }),
      latentMask: latentMaskProp,
    },
  ),
  baselineNode(
    'baseline.repaint',
    'RePaint (Lugmayr et al. 2022): replacement with resampling jumps',
    repaint,
    {
      steps: int(`levels (default ${REPAINT_DEFAULTS.steps})`),
      jumpLength: int(`jump length (default ${REPAINT_DEFAULTS.jumpLength})`),
      resamplings: int(`resamplings per jump (default ${REPAINT_DEFAULTS.resamplings})`),
      clipX0: { type: 'boolean', description: 'clip x_hat to [-1, 1] (default: pixel priors)' },
      latentMask: latentMaskProp,
    },
  ),
  baselineNode(
    'baseline.copaint',
    'CoPaint (Zhang et al. 2023), and CoPaint-TT with timeTravel: true',
    copaint,
    {
      steps: int(`levels (default ${COPAINT_DEFAULTS.steps})`),
      gradSteps: int(`gradient steps per level (default ${COPAINT_DEFAULTS.gradSteps})`),
      lr: num(`learning rate (default ${COPAINT_DEFAULTS.lr})`, { exclusiveMinimum: 0 }),
      regCoef: num(`consistency regulariser (default ${COPAINT_DEFAULTS.regCoef})`, { minimum: 0 }),
      timeTravel: { type: 'boolean', description: 'CoPaint-TT (default false)' },
      jumpLength: int(`time-travel jump length (default ${COPAINT_DEFAULTS.jumpLength})`),
      jumpNSample: int(`time-travel repetitions (default ${COPAINT_DEFAULTS.jumpNSample})`),
    },
  ),
];
