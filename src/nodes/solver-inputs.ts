/**
 * Shared plumbing of the solver nodes: the prior a node runs against (class label and guidance
 * applied), checks that the operator and the prior agree, and call counting.
 */
import type { NodeContext } from './define.js';
import type { PerceptualOption } from '../solvers/likelihood.js';
import { LPIPS_MIN_SIDE } from '../networks/lpips.js';
import type { LoadedModel } from '../models/build.js';
import type { DiffusionPrior, CallReporter } from '../solvers/prior.js';
import type { MeasurementOperator } from '../physics/operator.js';
import { expectModel, expectPerceptual } from './model-inputs.js';
import { expectOperator } from '../physics/node-inputs.js';

export interface SolverSetup {
  model: LoadedModel;
  prior: DiffusionPrior;
  op: MeasurementOperator;
  onCalls: CallReporter;
}

/** Guidance params every solver node declares. */
export const guidanceParams = {
  guidance: {
    type: 'number',
    default: 1,
    description: 'classifier-free guidance scale when a label is wired (paper: 3 for class-conditional LDMs)',
  },
} as const;

export function solverSetup(
  inputs: Record<string, unknown>,
  params: { guidance: number },
  ctx: NodeContext,
  opts: { space?: 'pixel' | 'latent' } = {},
): SolverSetup {
  const model = expectModel(inputs.model, ctx.nodeId);
  if (!model.denoiser)
    throw new Error(`node '${ctx.nodeId}': model '${model.name}' (${model.kind}) is not a diffusion prior`);
  const op = expectOperator(inputs.operator, 'operator', ctx.nodeId);
  const label = (inputs.label as number[] | undefined)?.[0];
  if (label !== undefined && model.numClasses === undefined) {
    throw new Error(
      `node '${ctx.nodeId}': a label is wired but model '${model.name}' is not class-conditional`,
    );
  }
  const prior = model.prior(label !== undefined ? { labels: label, guidance: params.guidance } : {});
  if (opts.space && prior.space !== opts.space) {
    throw new Error(
      `node '${ctx.nodeId}': this solver needs a ${opts.space} prior but '${model.name}' is a ${prior.space} prior`,
    );
  }
  const want = prior.imageShape.join('x');
  const got = op.inputShape.join('x');
  if (want !== got) {
    throw new Error(
      `node '${ctx.nodeId}': the measurement is of ${got} images but the prior '${model.name}' makes ${want} images`,
    );
  }
  return { model, prior, op, onCalls: (kind, n = 1) => ctx.countCalls(kind, n) };
}

/**
 * The likelihood scale b a solver uses: the node's explicit param, else the prior's own
 * (`likelihoodScale.b` in its model.yaml, docs/method.md). A prior without one is refused rather
 * than given a guessed value.
 */
export function priorLikelihoodScale(
  model: LoadedModel,
  explicit: number | undefined,
  nodeId: string,
): number {
  if (explicit !== undefined) return explicit;
  const b = model.manifest.likelihoodScale?.b;
  if (b === undefined) {
    throw new Error(
      `node '${nodeId}': model '${model.name}' has no likelihoodScale in its model.yaml: compute it with ` +
        `'flow likelihood-scale <images> --write ${model.dir}' or set laplaceScale`,
    );
  }
  return b;
}

/** Input ports shared by the solver nodes. */
export const solverInputs = {
  model: { type: 'model', description: 'the diffusion prior' },
  operator: { type: 'operator', description: 'the measurement A with its observation y' },
  label: {
    type: 'labels',
    optional: true,
    description: 'class label to condition on (class-conditional priors)',
  },
} as const;

/** The optional feature network of the solvers that take a perceptual term. */
export const perceptualInput = {
  perceptual: {
    type: 'model',
    optional: true,
    description:
      'a perceptual model (LPIPS, made by flow import-lpips): adds perceptualWeight x LPIPS(A(x) masked, y masked) to the likelihood',
  },
} as const;

export const perceptualParams = {
  perceptualWeight: {
    type: 'number',
    minimum: 0,
    description:
      "weight of the perceptual term when a perceptual model is wired (1 when unset); it adds to each sample's data term, which is a Laplace NLL sum |r| / b in posterior-fit (hundreds on 32x32 images) but the residual norm ||r|| in dps-refine (single digits), so useful weights differ between the two",
  },
} as const;

/**
 * The perceptual term a solver adds, from its optional `perceptual` input: LPIPS between the
 * masked reconstruction A(x) and the masked observation y (y broadcast over the samples). Refuses
 * models that are not perceptual and measurements too small for the network (4x SR of a 32 x 32
 * image gives 8 x 8), rather than failing inside the solver.
 */
export function perceptualOption(
  inputs: Record<string, unknown>,
  params: { perceptualWeight?: number },
  op: MeasurementOperator,
  nodeId: string,
): PerceptualOption | undefined {
  if (inputs.perceptual === undefined) return undefined;
  const net = expectPerceptual(inputs.perceptual, nodeId);
  const [h, w] = op.outputShape;
  if (h < LPIPS_MIN_SIDE || w < LPIPS_MIN_SIDE)
    throw new Error(
      `node '${nodeId}': the measurement is ${h}x${w}, too small for LPIPS (at least ${LPIPS_MIN_SIDE}x${LPIPS_MIN_SIDE}); unwire 'perceptual'`,
    );
  return { loss: (a, b) => net.distance(a, b), weight: params.perceptualWeight ?? 1 };
}
