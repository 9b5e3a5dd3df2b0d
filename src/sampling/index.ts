/** Sampler building blocks: prediction conversions, one-step rules, forward process, sampler loops. */
export * from './predictions.js';
export {
  ddimStep,
  ddimStepMeanStd,
  type DdimCoefficients,
  type DdimStepInput,
  type EtaConvention,
} from './ddim.js';
export {
  ancestralStep,
  ancestralStepMeanStd,
  type AncestralCoefficients,
  type AncestralStepInput,
} from './ancestral.js';
export { qSample, qStep } from './forward.js';
export { edmSampleLoop, timeForSigma, type EdmLoopOptions } from './edm-samplers.js';
export {
  sampleDdim,
  sampleEdm,
  samplerTimes,
  type DdimSampleOptions,
  type EdmSampleOptions,
  type SampleCommonOptions,
  type TimestepSpacing,
} from './sample.js';
