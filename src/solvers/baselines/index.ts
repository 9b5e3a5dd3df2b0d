/**
 * The baseline inverse-problem solvers of the paper (docs/method.md section 7), one module each, all
 * with the calling convention of common.ts:
 *   (prior, op, opts, { rng, signal, onProgress, onCalls }) => Promise<Tensor4D>  (N decoded samples)
 *
 * | method      | priors         | operators        | default cost (network calls)            |
 * |-------------|----------------|------------------|-----------------------------------------|
 * | DPS         | pixel, latent  | any linear       | 1000 (pixel) / 500 (latent) gradient    |
 * | PSLD        | latent (pixel) | any linear       | 500 gradient                            |
 * | ReSample    | VP (latent)    | any linear       | 500 gradient + 165 forward              |
 * | RED-diff(-V)| pixel, latent  | any linear       | 1000 forward                            |
 * | Blended     | pixel, latent  | inpainting mask  | 1000 forward                            |
 * | RePaint     | pixel, latent  | inpainting mask  | 2506 forward                            |
 * | CoPaint     | pixel, latent  | inpainting mask  | 500 gradient + >= 500 forward           |
 * | CoPaint-TT  | pixel, latent  | inpainting mask  | 1028 gradient + >= 1028 forward         |
 */
export * from './common.js';
export { timeGrid, gridLevel, jumpSchedule, reverseStepCount } from './schedule-grid.js';
export { Replacement } from './replacement.js';
export {
  dps,
  guidedGradient,
  runGuidedSampler,
  DPS_DEFAULTS,
  type DpsOptions,
  type ExtraLoss,
} from './dps.js';
export { psld, psldGluingTerm, PSLD_DEFAULTS, type PsldOptions } from './psld.js';
export {
  resample,
  resampleCallCounts,
  resampleConsistencySteps,
  RESAMPLE_DEFAULTS,
  type ResampleOptions,
} from './resample.js';
export { redDiff, redDiffV, RED_DIFF_DEFAULTS, type RedDiffOptions } from './red-diff.js';
export { blended, BLENDED_DEFAULTS, type BlendedOptions } from './blended.js';
export { repaint, REPAINT_DEFAULTS, type RepaintOptions } from './repaint.js';
export { copaint, copaintTT, copaintSequence, COPAINT_DEFAULTS, type CopaintOptions } from './copaint.js';
