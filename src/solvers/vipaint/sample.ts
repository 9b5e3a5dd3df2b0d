/**
 * After the fit (docs/method.md section 5, step 1): ancestral sampling down the fitted hierarchy,
 * z_{T_e} ~ q(z_{T_e}), then z_{s(i)} ~ q(z_{s(i)} | z_{s(i+1)}) to z_{T_s}, for N samples as one batch.
 * K - 1 network calls (forward only, no gradients), reported as 'forward'.
 */
import * as tf from '@tensorflow/tfjs';
import { countCalls } from '../../networks/denoiser.js';
import type { Rng } from '../../util/random.js';
import type { CallReporter, DiffusionPrior } from '../prior.js';
import type { VipaintConfig } from './config.js';
import {
  checkParams,
  disposeHierarchyNoise,
  drawHierarchyNoise,
  sampleTop,
  walkHierarchy,
  type VipaintParams,
} from './posterior.js';
import { checkFinite } from './validate.js';
import { emitPreview, type PreviewSink } from '../../io/preview.js';

export interface SampleVipaintOptions {
  signal?: AbortSignal;
  onCalls?: CallReporter;
  /** Previews: the decoded x_hat of each transition down the hierarchy. */
  preview?: PreviewSink;
}

/** N samples of z_{T_s} [n, ...latentShape] from the fitted posterior (caller owns the result). */
export async function sampleVipaintPosterior(
  prior: DiffusionPrior,
  fitted: { config: VipaintConfig; params: VipaintParams },
  n: number,
  rng: Rng,
  options: SampleVipaintOptions = {},
): Promise<tf.Tensor4D> {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`vipaint: the sample count must be an integer >= 1, got ${n}`);
  const { config, params } = fitted;
  checkParams(params, config, prior.latentShape);
  await checkFinite(params.mu, 'the fitted mu');
  await checkFinite(params.logTau2, 'the fitted log tau^2');
  await checkFinite(params.gammaLogit, 'the fitted logit gamma');
  const denoiser = countCalls(prior.denoiser, () => options.onCalls?.('forward', 1));
  const noise = drawHierarchyNoise(rng, config, [n, ...prior.latentShape]);
  try {
    const zTe = sampleTop(denoiser.schedule, config, params, noise.top);
    try {
      const levels = config.keypoints.length - 1;
      return walkHierarchy(denoiser, config, params, zTe, noise.steps, {
        signal: options.signal,
        onLevel: (l) => emitPreview(options.preview, l.index, levels, () => prior.decode(l.x0)),
      }).zTs;
    } finally {
      zTe.dispose();
    }
  } finally {
    disposeHierarchyNoise(noise);
  }
}
