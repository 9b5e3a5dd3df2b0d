/** Noise schedules: the common interface, one module per family, and a factory from JSON specs. */
import { EdmSchedule } from './edm.js';
import type { NoiseSchedule, ScheduleSpec } from './types.js';
import { VeSchedule } from './ve.js';
import { VpContinuousSchedule } from './vp-continuous.js';
import { VpDiscreteSchedule } from './vp-discrete.js';

export * from './types.js';
export { transitionBetween, posteriorBetween, levelSnr } from './base.js';
export { VpDiscreteSchedule, vpDiscrete, makeBetas, type VpDiscreteOptions } from './vp-discrete.js';
export { VpContinuousSchedule, vpContinuous, type VpContinuousOptions } from './vp-continuous.js';
export { VeSchedule, ve, type VeOptions } from './ve.js';
export { EdmSchedule, edm, edmPreconditioning, type EdmOptions, type EdmPreconditioning } from './edm.js';
export {
  PAPER_KEYPOINTS,
  keypointsBySnr,
  validateKeypoints,
  describeKeypoints,
  type KeypointInfo,
} from './keypoints.js';

/** Rebuild a schedule from its `toJSON()` description. */
export function createSchedule(spec: ScheduleSpec): NoiseSchedule {
  switch (spec.family) {
    case 'vp-discrete':
      return spec.betaSchedule === 'custom'
        ? VpDiscreteSchedule.fromAlphasCumprod(spec.alphasCumprod)
        : VpDiscreteSchedule.fromBetas(spec);
    case 'vp-continuous':
      return new VpContinuousSchedule(spec);
    case 've':
      return new VeSchedule(spec);
    case 'edm':
      return new EdmSchedule(spec);
    default: {
      const never: never = spec;
      throw new Error(`unknown schedule family in ${JSON.stringify(never)}`);
    }
  }
}
