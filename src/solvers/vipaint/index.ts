/** VIPaint (docs/method.md sections 2-5): posterior, objective, initialisation, fit, sampling and refinement. */
export * from './config.js';
export * from './posterior.js';
export * from './kl.js';
export * from './prior-term.js';
export * from './objective.js';
export * from './init.js';
export * from './fit.js';
export * from './sample.js';
export * from './refine.js';
export { priorGrid, refineTimes, rhoSpacing, type PriorGridOptions } from './times.js';
export { checkProblem, checkY0 } from './validate.js';
