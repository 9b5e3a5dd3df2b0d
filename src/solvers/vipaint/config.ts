/**
 * The JSON-serialisable description of a VIPaint posterior (everything but its tensors), its
 * defaults per prior kind and the checks that turn bad input into one clear error.
 *
 * Choices written down here (where the paper leaves them open):
 * - `parametrisation` 'paper' (default): the top level is q(z_{T_e}) = N(mu, tau^2) and the lower
 *   levels' means are gamma zbar + (1 - gamma) mu, all mu in the units of the noisy latent at their
 *   keypoint (docs/method.md section 2, the paper's Eq. 7-8 and Table 4). 'authors': the public code's
 *   form (docs/method.md section 9): mu in clean-latent units, the top drawn as the forward process
 *   applied to mu at the posterior's own noise level, z = alpha(tau) mu + tau eps with
 *   alpha(tau) = sqrt(1 - tau^2) on VP schedules (1 on VE/EDM), and lower means
 *   gamma zbar + (1 - gamma) alpha_{s(i)} mu. We default to the paper's form because it is the
 *   factorised Gaussian the objective is derived for and it needs no constraint tau < 1.
 * - `priorStep`: p_theta(z_{s(i)} | z_{s(i+1)}) is the DDIM step (VP) or the ancestral step
 *   (VE/EDM), as the paper's appendix B.2. DDIM's eta scales the step's VARIANCE here (the paper's
 *   Eq. 23 and the authors' keypoint steps, docs/method.md section 9); default eta 0.2 (appendix E.1).
 *   eta must be > 0: a deterministic prior step has zero variance and the KL terms are infinite.
 * - tau is per ELEMENT (log tau^2 has the latent's shape at every keypoint), as in the authors'
 *   code: observed regions can become certain while missing ones stay uncertain, which a single
 *   tau per keypoint cannot express.
 * - gamma is per ELEMENT by default (a logit of the latent's shape at every transition), as in the
 *   authors' code, although the paper and the brief describe one gamma per keypoint ('keypoint',
 *   available as an option). Measured on the Gaussian-prior inpainting test (4x4 image, 8 pixels
 *   missing, 300 iterations): with per-element gamma the fit drives gamma to ~0.1 on observed pixels
 *   (the likelihood pins them through mu) and to ~0.998 on missing ones (they follow the prior step),
 *   and the posterior std of x_hat on missing pixels is 0.57-0.66 against the exact 0.65; with one
 *   gamma per keypoint the shared gamma falls to ~0.15 for the observed pixels' sake, cutting the
 *   missing pixels off the prior's randomness, and their std collapses to ~0.2.
 */
import { PAPER_KEYPOINTS, keypointsBySnr, validateKeypoints } from '../../schedules/keypoints.js';
import type { NoiseSchedule } from '../../schedules/types.js';

export type Parametrisation = 'paper' | 'authors';
export type PriorStepRule = 'ddim' | 'ancestral';
export type GammaShape = 'keypoint' | 'element';

export interface VipaintConfig {
  /** T_e = keypoints[0] > ... > keypoints[K-1] = T_s, schedule times, K >= 2. */
  keypoints: number[];
  parametrisation: Parametrisation;
  priorStep: PriorStepRule;
  /** DDIM stochasticity of the prior steps between keypoints, on the variance (ignored by 'ancestral'). */
  eta: number;
  gammaShape: GammaShape;
}

/** The paper's keypoints for its two prior kinds when the schedule matches, else 2 keypoints by SNR [0.2, 0.5]. */
export function defaultKeypoints(schedule: NoiseSchedule): number[] {
  if (schedule.kind === 'vp' && schedule.discrete && schedule.numSteps === 1000) {
    return [...PAPER_KEYPOINTS.ldm[2]];
  }
  if (schedule.kind === 'edm' && schedule.tMin <= 2 && schedule.tMax >= 5) return [...PAPER_KEYPOINTS.edm[2]];
  return keypointsBySnr(schedule, { count: 2 });
}

/** Fill defaults by the schedule's kind and validate. */
export function resolveVipaintConfig(
  schedule: NoiseSchedule,
  partial: Partial<VipaintConfig> = {},
): VipaintConfig {
  const keypoints = validateKeypoints(schedule, partial.keypoints ?? defaultKeypoints(schedule));
  const config: VipaintConfig = {
    keypoints,
    parametrisation: partial.parametrisation ?? 'paper',
    priorStep: partial.priorStep ?? (schedule.kind === 'vp' ? 'ddim' : 'ancestral'),
    eta: partial.eta ?? 0.2,
    gammaShape: partial.gammaShape ?? 'element',
  };
  if (config.parametrisation !== 'paper' && config.parametrisation !== 'authors') {
    throw new Error(
      `vipaint: parametrisation must be 'paper' or 'authors', got '${String(config.parametrisation)}'`,
    );
  }
  if (config.priorStep !== 'ddim' && config.priorStep !== 'ancestral') {
    throw new Error(`vipaint: priorStep must be 'ddim' or 'ancestral', got '${String(config.priorStep)}'`);
  }
  if (config.gammaShape !== 'keypoint' && config.gammaShape !== 'element') {
    throw new Error(
      `vipaint: gammaShape must be 'keypoint' or 'element', got '${String(config.gammaShape)}'`,
    );
  }
  if (config.priorStep === 'ddim' && !(config.eta > 0 && config.eta <= 1)) {
    throw new Error(
      `vipaint: DDIM eta must be in (0, 1] (it scales the prior step's variance; eta = 0 makes the KL ` +
        `terms infinite), got ${config.eta}`,
    );
  }
  const te = keypoints[0] as number;
  if (!(te < schedule.tMax)) {
    throw new Error(
      `vipaint: T_e = ${te} leaves no diffusion above it (the schedule ends at ${schedule.tMax})`,
    );
  }
  return config;
}

/** Keypoint count K. */
export function keypointCount(config: VipaintConfig): number {
  return config.keypoints.length;
}
