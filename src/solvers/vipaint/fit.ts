/**
 * Fitting the VIPaint posterior to one observation (docs/method.md sections 3-4): Adam on (mu, logit
 * gamma, log tau^2) with per-group learning rates and step decay, gradients through the denoiser and
 * the decoder, a Monte-Carlo batch of posterior samples per iteration.
 *
 * Choices:
 * - MC batch default 4 (the authors use 10): every sample costs a forward and backward pass of the
 *   denoiser K + 1 times and of the decoder once, and on this 2-core CPU the cost is linear in the
 *   batch. Pass `batch: 10` to match the paper.
 * - Iterations default 50 for K = 2 (the paper), 100 for K > 2 (the paper's LSUN value; 150/250
 *   for its ImageNet runs); the nodes derive them from a call budget (budget.ts).
 * - Likelihood: Laplace with the caller's scale b on observed entries (no default here: b is the
 *   prior's own, recorded in its model.yaml, docs/method.md "Likelihood scale b"), plus an optional
 *   perceptual term (weight * loss on masked images).
 * - beta default 1 (the paper's K = 2 setting).
 * - The loss being minimised is the batch MEAN of the per-sample total.
 * - Network calls are reported per batched evaluation, all as 'gradient' (K + 1 per iteration).
 * - A NaN or Inf in any part of the loss, or in a gradient, stops the fit with an error naming the
 *   iteration (1-based) and the term.
 */
import * as tf from '@tensorflow/tfjs';
import { countCalls } from '../../networks/denoiser.js';
import type { MeasurementOperator } from '../../physics/operator.js';
import type { Rng } from '../../util/random.js';
import { laplaceNll, withPerceptual, type ImageLoss, type PerceptualOption } from '../likelihood.js';
import type { CallCounts, CallReporter, DiffusionPrior } from '../prior.js';
import { GroupAdam } from './adam.js';
import { emitPreview, previewDue, type PreviewSink } from '../../io/preview.js';
import { resolveVipaintConfig, type VipaintConfig } from './config.js';
import { initVipaintParams, type VipaintInitOptions } from './init.js';
import type { KlVariant } from './kl.js';
import { vipaintObjective } from './objective.js';
import { checkParams, disposeHierarchyNoise, drawHierarchyNoise, type VipaintParams } from './posterior.js';
import { drawPrior } from './prior-term.js';
import { priorGrid, type PriorGridOptions } from './times.js';
import { checkFinite, checkProblem, checkY0 } from './validate.js';

export interface LossCurve {
  /** Batch means per iteration. */
  total: number[];
  likelihood: number[];
  kl: number[];
  prior: number[];
}

export interface FitProgress {
  iteration: number;
  iterations: number;
  total: number;
  likelihood: number;
  kl: number;
  prior: number;
  /** The learning-rate multiplier used in this iteration. */
  lrScale: number;
}

export interface FitVipaintOptions {
  /** The observation in the diffusion's space, [1, ...latentShape] (see init.ts). */
  y0: tf.Tensor4D;
  rng: Rng;
  config?: Partial<VipaintConfig>;
  iterations?: number;
  batch?: number;
  beta?: number;
  /** Laplace scale b, the prior's likelihood scale; required unless `likelihood` is given. */
  laplaceScale?: number;
  /** Replaces the Laplace term: per-sample loss of decoded images. */
  likelihood?: ImageLoss;
  perceptual?: PerceptualOption;
  klVariant?: KlVariant;
  topEntropy?: boolean;
  init?: VipaintInitOptions;
  /** Start from these parameters instead of `init` (not disposed). */
  initialParams?: VipaintParams;
  learningRates?: { mu?: number; gamma?: number; logTau2?: number };
  lrDecay?: { factor?: number; every?: number };
  priorGrid?: PriorGridOptions;
  signal?: AbortSignal;
  onProgress?: (p: FitProgress) => void;
  onCalls?: CallReporter;
  /** Previews: the decoded one-step predictions of the iteration's Monte-Carlo batch. */
  preview?: PreviewSink;
}

export interface VipaintFit {
  config: VipaintConfig;
  /** Plain tensors owned by the caller (dispose with disposeParams). */
  params: VipaintParams;
  curve: LossCurve;
  calls: CallCounts;
}

function defaultIterations(k: number): number {
  return k === 2 ? 50 : 100;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`vipaint: ${name} must be an integer >= 1, got ${v}`);
  return v;
}

export async function fitVipaintPosterior(
  prior: DiffusionPrior,
  op: MeasurementOperator,
  options: FitVipaintOptions,
): Promise<VipaintFit> {
  const schedule = prior.denoiser.schedule;
  const config = resolveVipaintConfig(schedule, options.config);
  await checkProblem(prior, op);
  await checkY0(prior, options.y0);
  const k = config.keypoints.length;
  const iterations = positiveInt(options.iterations ?? defaultIterations(k), 'iterations');
  const batch = positiveInt(options.batch ?? 4, 'the Monte-Carlo batch');
  const grid = priorGrid(schedule, config.keypoints[0] as number, options.priorGrid);
  const b = options.laplaceScale;
  if (!options.likelihood && b === undefined) {
    throw new Error(
      "vipaint fit: give laplaceScale (the prior's likelihood scale b, docs/method.md) or a likelihood",
    );
  }
  const dataLoss: ImageLoss = options.likelihood ?? ((x) => laplaceNll(op, x, b as number));
  const likelihood: ImageLoss = withPerceptual(op, dataLoss, options.perceptual);
  const calls: CallCounts = { forward: 0, gradient: 0 };
  const denoiser = countCalls(prior.denoiser, () => {
    calls.gradient += 1;
    options.onCalls?.('gradient', 1);
  });

  const start = options.initialParams
    ? options.initialParams
    : initVipaintParams(schedule, config, options.y0, options.rng, options.init);
  const shape: [number, number, number, number] = [batch, ...prior.latentShape];
  const vars = {
    mu: tf.variable(start.mu, true, undefined, 'float32'),
    logTau2: tf.variable(start.logTau2, true, undefined, 'float32'),
    gammaLogit: tf.variable(start.gammaLogit, true, undefined, 'float32'),
  };
  if (!options.initialParams) {
    start.mu.dispose();
    start.logTau2.dispose();
    start.gammaLogit.dispose();
  }
  const lr = options.learningRates ?? {};
  const adam = new GroupAdam(
    [
      { variable: vars.mu, lr: lr.mu ?? 0.1 },
      { variable: vars.gammaLogit, lr: lr.gamma ?? 0.1 },
      { variable: vars.logTau2, lr: lr.logTau2 ?? 0.01 },
    ],
    { decayFactor: options.lrDecay?.factor, decayEvery: options.lrDecay?.every },
  );
  const curve: LossCurve = { total: [], likelihood: [], kl: [], prior: [] };
  try {
    const params: VipaintParams = { mu: vars.mu, logTau2: vars.logTau2, gammaLogit: vars.gammaLogit };
    checkParams(params, config, prior.latentShape);
    for (let it = 1; it <= iterations; it++) {
      options.signal?.throwIfAborted();
      const lrScale = adam.scale();
      const draws = {
        hierarchy: drawHierarchyNoise(options.rng, config, shape),
        prior: drawPrior(grid, shape, options.rng),
      };
      let parts: tf.Tensor1D[] = [];
      let shown: tf.Tensor4D | undefined;
      const keepImages = previewDue(options.preview, it, iterations)
        ? (x: tf.Tensor4D) => void (shown = tf.keep(x))
        : undefined;
      let result: { value: tf.Scalar; grads: tf.NamedTensorMap } | undefined;
      try {
        result = tf.variableGrads(() => {
          const o = vipaintObjective(prior, denoiser, config, params, draws, {
            likelihood,
            beta: options.beta,
            klVariant: options.klVariant,
            topEntropy: options.topEntropy,
            signal: options.signal,
            onImages: keepImages,
          });
          parts = [o.total, o.likelihood, o.kl, o.prior].map((p) => tf.keep(tf.mean(p))) as tf.Tensor1D[];
          return tf.mean(o.total) as tf.Scalar;
        }, [vars.mu, vars.gammaLogit, vars.logTau2]);
        const values = await Promise.all(parts.map(async (p) => (await p.data())[0] as number));
        const [total, lik, kl, pri] = values as [number, number, number, number];
        for (const [name, v] of [
          ['likelihood', lik],
          ['KL', kl],
          ['prior', pri],
          ['total', total],
        ] as const) {
          if (!Number.isFinite(v)) {
            throw new Error(`vipaint fit: iteration ${it}: the ${name} term is ${v} (NaN or Inf); stopping`);
          }
        }
        const grads = [vars.mu, vars.gammaLogit, vars.logTau2].map((v) => {
          const g = result?.grads[v.name];
          if (!g) throw new Error(`vipaint fit: iteration ${it}: no gradient for ${v.name}`);
          return g;
        });
        for (const [i, name] of ['mu', 'logit gamma', 'log tau^2'].entries()) {
          await checkFinite(grads[i] as tf.Tensor, `the gradient of ${name}`).catch(() => {
            throw new Error(
              `vipaint fit: iteration ${it}: the gradient of ${name} contains NaN or Inf; stopping`,
            );
          });
        }
        adam.step(grads);
        curve.total.push(total);
        curve.likelihood.push(lik);
        curve.kl.push(kl);
        curve.prior.push(pri);
        options.onProgress?.({ iteration: it, iterations, total, likelihood: lik, kl, prior: pri, lrScale });
        emitPreview(options.preview, it, iterations, () => shown as tf.Tensor4D);
      } finally {
        shown?.dispose();
        parts.forEach((p) => p.dispose());
        if (result) {
          result.value.dispose();
          Object.values(result.grads).forEach((g) => g.dispose());
        }
        disposeHierarchyNoise(draws.hierarchy);
        draws.prior.eps.dispose();
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    return {
      config,
      params: {
        mu: tf.clone(vars.mu),
        logTau2: tf.clone(vars.logTau2),
        gammaLogit: tf.clone(vars.gammaLogit),
      },
      curve,
      calls,
    };
  } finally {
    adam.dispose();
    vars.mu.dispose();
    vars.logTau2.dispose();
    vars.gammaLogit.dispose();
  }
}

/** A JSON-ready copy of a fit (tensors as nested arrays with their shapes) for caches and logs. */
export function fitToJSON(fit: VipaintFit): {
  config: VipaintConfig;
  curve: LossCurve;
  calls: CallCounts;
  tensors: Record<'mu' | 'logTau2' | 'gammaLogit', { shape: number[]; values: number[] }>;
} {
  const pack = (t: tf.Tensor): { shape: number[]; values: number[] } => ({
    shape: [...t.shape],
    values: Array.from(t.dataSync()),
  });
  return {
    config: fit.config,
    curve: fit.curve,
    calls: fit.calls,
    tensors: {
      mu: pack(fit.params.mu),
      logTau2: pack(fit.params.logTau2),
      gammaLogit: pack(fit.params.gammaLogit),
    },
  };
}

/** Inverse of fitToJSON. */
export function fitFromJSON(json: ReturnType<typeof fitToJSON>): VipaintFit {
  const unpack = (p: { shape: number[]; values: number[] }): tf.Tensor =>
    tf.tensor(p.values, p.shape, 'float32');
  return {
    config: json.config,
    curve: json.curve,
    calls: json.calls,
    params: {
      mu: unpack(json.tensors.mu) as tf.Tensor4D,
      logTau2: unpack(json.tensors.logTau2) as tf.Tensor4D,
      gammaLogit: unpack(json.tensors.gammaLogit),
    },
  };
}
