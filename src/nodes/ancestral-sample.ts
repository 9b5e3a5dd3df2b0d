/**
 * `ancestral-sample`: N samples of z_{T_s} from a fitted VIPaint posterior, drawn down the
 * hierarchy (z_{T_e} ~ q(z_{T_e}), then each q(z_{s(i)} | z_{s(i+1)})) as one batch.
 */
import { defineNode } from './define.js';
import { expectModel } from './model-inputs.js';
import { guidanceParams } from './solver-inputs.js';
import { sampleVipaintPosterior } from '../solvers/vipaint/sample.js';
import type { CallCounts } from '../solvers/prior.js';
import type { VipaintConfig } from '../solvers/vipaint/config.js';
import type { VipaintParams } from '../solvers/vipaint/posterior.js';
import { Rng } from '../util/random.js';

export interface FittedPosterior {
  config: VipaintConfig;
  params: VipaintParams;
  /** The fit's network calls (posterior-fit sets them; dps-refine's budget needs them). */
  calls?: CallCounts;
}

export function expectPosterior(v: unknown, nodeId: string): FittedPosterior {
  const p = v as FittedPosterior | undefined;
  if (!p || !p.config || !Array.isArray(p.config.keypoints) || !p.params) {
    throw new Error(`node '${nodeId}': input 'posterior' is not a fitted VIPaint posterior`);
  }
  return p;
}

export default defineNode<{ samples: number; guidance: number }>({
  type: 'ancestral-sample',
  version: 1,
  finiteOutputs: true,
  category: 'solver',
  description: 'Draw N samples of z at T_s from a fitted VIPaint posterior (ancestral, down the keypoints)',
  inputs: {
    model: { type: 'model', description: 'the prior the posterior was fitted with' },
    posterior: { type: 'posterior', description: 'output of posterior-fit' },
    label: { type: 'labels', optional: true, description: 'class label (as wired to posterior-fit)' },
  },
  outputs: { latent: { type: 'latent', description: 'N x latent samples at T_s' } },
  params: {
    type: 'object',
    properties: {
      samples: { type: 'integer', minimum: 1, default: 4, description: 'number of samples N' },
      ...guidanceParams,
    },
  },
  async run(inputs, params, ctx) {
    const model = expectModel(inputs.model, ctx.nodeId);
    const posterior = expectPosterior(inputs.posterior, ctx.nodeId);
    const label = (inputs.label as number[] | undefined)?.[0];
    const prior = model.prior(label !== undefined ? { labels: label, guidance: params.guidance } : {});
    const latent = await sampleVipaintPosterior(prior, posterior, params.samples, new Rng(ctx.seed), {
      signal: ctx.signal,
      onCalls: (kind, n = 1) => ctx.countCalls(kind, n),
      preview: ctx.preview,
    });
    return { latent };
  },
});
