/**
 * What every baseline solver shares: the calling convention, network-call reporting, the data
 * residual, operator checks (inpainting masks, latent masks), a pseudo-inverse of the operator and a
 * plain Adam step.
 *
 * Calling convention (all files in this folder):
 *   solver(prior, op, opts, ctx) -> Promise<Tensor4D>
 * returns `opts.samples` decoded images in [-1, 1] as one batch (the samples are generated together
 * as one network batch). The caller owns the result; nothing else survives the call, also when it
 * throws or is aborted.
 *
 * Network calls are counted per batched evaluation of the denoiser (N samples in one batch = one
 * call), as in the paper's Table 5: 'forward' for plain evaluations, 'gradient' for evaluations that
 * are differentiated through (forward + backward).
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from '../../physics/operator.js';
import type { Rng } from '../../util/random.js';
import type { NoiseSchedule } from '../../schedules/types.js';
import { l2Residual, observedResidual, sumPerSample } from '../likelihood.js';
import type { CallReporter, DiffusionPrior } from '../prior.js';
import { clipImage } from '../../util/clip-image.js';
import type { PreviewSink } from '../../io/preview.js';

export interface SolverProgress {
  /** Steps done so far (1-based after the first step) and the total for this run. */
  step: number;
  total: number;
  /** What the step was, e.g. 'reverse', 'forward', 'optimise'. */
  phase?: string;
}

export interface SolverContext {
  rng: Rng;
  signal?: AbortSignal;
  onProgress?: (p: SolverProgress) => void;
  onCalls?: CallReporter;
  /** Previews: the decoded x_hat of a step (the current estimate for optimisation methods). */
  preview?: PreviewSink;
}

export interface CommonSolverOptions {
  /** Number of samples N drawn as one batch (default 1). */
  samples?: number;
}

export type Solver<O> = (
  prior: DiffusionPrior,
  op: MeasurementOperator,
  opts: O,
  ctx: SolverContext,
) => Promise<tf.Tensor4D>;

/** Yield to the event loop so that an abort (or other work) can get in between steps. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function sampleCount(opts: CommonSolverOptions, method: string): number {
  const n = opts.samples ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new Error(`${method}: samples must be an integer >= 1, got ${n}`);
  return n;
}

export function positiveInt(value: number, name: string, method: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${method}: ${name} must be an integer >= 1, got ${value}`);
  }
  return value;
}

/** The prior and the operator must agree on the image shape. */
export function checkCompatible(prior: DiffusionPrior, op: MeasurementOperator, method: string): void {
  if (prior.imageShape.join('x') !== op.inputShape.join('x')) {
    throw new Error(
      `${method}: the prior makes ${prior.imageShape.join('x')} images but the operator expects ` +
        `${op.inputShape.join('x')}`,
    );
  }
}

/** The inpainting mask (1 = observed), or a clear error for operators without one. */
export function requireMask(op: MeasurementOperator, method: string): tf.Tensor4D {
  if (!op.mask) {
    throw new Error(`${method} is an inpainting method: it needs an operator with a mask, got '${op.kind}'`);
  }
  return op.mask;
}

/**
 * How a pixel mask becomes a latent one for replacement methods: 'all' (a latent element is
 * observed only when its whole f x f footprint is: exact but empty under fine free-form masks)
 * or 'majority' (when at least half of its footprint is, as Blended Latent Diffusion's
 * downsampled mask; the decoder then mixes a few missing pixels into the replaced region).
 */
export const LATENT_MASK_RULES = ['all', 'majority'] as const;
export type LatentMaskRule = (typeof LATENT_MASK_RULES)[number];

/**
 * The mask at the resolution of the prior's space. Pixel priors: the pixel mask. Latent priors,
 * rule 'all': a latent element counts as observed only when EVERY pixel of its f x f footprint is
 * (a min-pool with f = H / h), so that replacing it never imports the zeros of missing pixels;
 * rule 'majority': when the footprint's mean is at least 0.5.
 */
export function maskInPriorSpace(
  prior: DiffusionPrior,
  mask: tf.Tensor4D,
  method: string,
  rule: LatentMaskRule = 'all',
): tf.Tensor4D {
  if (prior.space === 'pixel') return tf.clone(mask);
  const [h, w] = prior.imageShape;
  const [lh, lw] = prior.latentShape;
  const f = h / lh;
  if (!Number.isInteger(f) || f !== w / lw) {
    throw new Error(`${method}: image ${h}x${w} is not an integer multiple of the latent ${lh}x${lw}`);
  }
  return tf.tidy(() =>
    rule === 'all'
      ? (tf.neg(tf.maxPool(tf.neg(mask), f, f, 'valid')) as tf.Tensor4D)
      : (tf.cast(tf.greaterEqual(tf.avgPool(mask, f, f, 'valid'), 0.5), 'float32') as tf.Tensor4D),
  );
}

/** Per-sample ||y - A(x)||_2 over observed entries, [N] (likelihood.ts `l2Residual`). Differentiable. */
export function residualNorm(op: MeasurementOperator, x: tf.Tensor4D): tf.Tensor1D {
  return l2Residual(op, x);
}

/** Per-sample ||y - A(x)||^2 over observed entries, [N]. Differentiable. */
export function residualSq(op: MeasurementOperator, x: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => sumPerSample(tf.square(observedResidual(op, x))));
}

/**
 * A^+ y = A^T (A A^T)^+ y by conjugate gradients on A A^T u = y (matrix-free, no network calls).
 * Exact for inpainting (one iteration); for SR / blur it is the minimum-norm least-squares image,
 * truncated after `iterations` (early stopping regularises ill-conditioned blurs). Batch 1.
 */
export async function pseudoInverse(op: MeasurementOperator, iterations = 30): Promise<tf.Tensor4D> {
  // Each step reads scalars asynchronously (webgpu allows no other way), and no tf.tidy or scope
  // may span an await (other nodes run meanwhile), so every tensor is disposed by hand.
  const scalar = async (f: () => tf.Tensor): Promise<number> => {
    const t = tf.tidy(f);
    const v = (await t.data())[0] as number;
    t.dispose();
    return v;
  };
  const y = op.y;
  let u = tf.zerosLike(y) as tf.Tensor4D;
  let r = tf.clone(y) as tf.Tensor4D;
  let p = tf.clone(y) as tf.Tensor4D;
  let ap: tf.Tensor4D | undefined;
  try {
    let rr = await scalar(() => tf.sum(tf.square(r)));
    const rr0 = rr;
    for (let i = 0; i < iterations && rr > 1e-14 * Math.max(rr0, 1e-30); i++) {
      ap = tf.tidy(() => op.forward(op.adjoint(p)));
      const pap = await scalar(() => tf.sum(tf.mul(p, ap as tf.Tensor4D)));
      if (!(pap > 0)) break;
      const a = rr / pap;
      const [u1, r1] = tf.tidy(() => [tf.add(u, tf.mul(p, a)), tf.sub(r, tf.mul(ap as tf.Tensor4D, a))]);
      tf.dispose([u, r, ap]);
      [u, r, ap] = [u1 as tf.Tensor4D, r1 as tf.Tensor4D, undefined];
      const rrNew = await scalar(() => tf.sum(tf.square(r)));
      const p1 = tf.tidy(() => tf.add(r, tf.mul(p, rrNew / rr)) as tf.Tensor4D);
      p.dispose();
      p = p1;
      rr = rrNew;
    }
    return tf.tidy(() => op.adjoint(u));
  } finally {
    tf.dispose([u, r, p]);
    ap?.dispose();
  }
}

/** Repeat a batch-1 tensor n times along the batch axis. */
export function repeatBatch(x: tf.Tensor4D, n: number): tf.Tensor4D {
  return n === 1 ? tf.clone(x) : tf.tile(x, [n, 1, 1, 1]);
}

/** Decode to images and clip to [-1, 1]. */
export function decodeClip(prior: DiffusionPrior, z: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => clipImage(prior.decode(z)));
}

/** Adam (Kingma & Ba 2015) on one tensor, with bias correction; state owned by the instance. */
export class AdamState {
  private m: tf.Tensor | undefined;
  private v: tf.Tensor | undefined;
  private t = 0;
  constructor(
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {}

  /** Returns x - lr * mhat / (sqrt(vhat) + eps); x and grad are not disposed. */
  step<T extends tf.Tensor>(x: T, grad: T, lr: number): T {
    this.t += 1;
    const { beta1, beta2, epsilon, t } = this;
    const [m, v] = tf.tidy(() => {
      const m0 = this.m ?? tf.zerosLike(grad);
      const v0 = this.v ?? tf.zerosLike(grad);
      return [
        tf.add(tf.mul(m0, beta1), tf.mul(grad, 1 - beta1)),
        tf.add(tf.mul(v0, beta2), tf.mul(tf.square(grad), 1 - beta2)),
      ];
    });
    this.m?.dispose();
    this.v?.dispose();
    this.m = m;
    this.v = v;
    return tf.tidy(() => {
      const mHat = tf.div(m, 1 - Math.pow(beta1, t));
      const vHat = tf.div(v, 1 - Math.pow(beta2, t));
      return tf.sub(x, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), lr));
    }) as T;
  }

  dispose(): void {
    this.m?.dispose();
    this.v?.dispose();
    this.m = undefined;
    this.v = undefined;
  }
}

/**
 * Run `body` with a holder for the solver's evolving state tensors; whatever the holder still holds
 * when `body` throws is disposed, so an abort leaks nothing.
 */
export async function withState<R>(body: (keep: StateHolder) => Promise<R>): Promise<R> {
  const holder = new StateHolder();
  try {
    return await body(holder);
  } finally {
    holder.disposeAll();
  }
}

/** Named slots for state tensors: setting a slot disposes its previous tensor. */
export class StateHolder {
  private slots = new Map<string, tf.Tensor>();

  set<T extends tf.Tensor>(name: string, t: T): T {
    const old = this.slots.get(name);
    if (old && old !== t) old.dispose();
    this.slots.set(name, t);
    return t;
  }

  get<T extends tf.Tensor>(name: string): T {
    const t = this.slots.get(name);
    if (!t) throw new Error(`internal: no state tensor '${name}'`);
    return t as T;
  }

  /** Remove a slot without disposing it (to return it to the caller). */
  take<T extends tf.Tensor>(name: string): T {
    const t = this.get<T>(name);
    this.slots.delete(name);
    return t;
  }

  disposeAll(): void {
    for (const t of this.slots.values()) t.dispose();
    this.slots.clear();
  }
}

/**
 * The starting point of a reverse-diffusion sampler at time `top`: N(0, I) for VP priors (alpha
 * is ~0 there), sigma(top) N(0, I) for VE/EDM priors.
 */
export function startNoise(schedule: NoiseSchedule, top: number, shape: number[], rng: Rng): tf.Tensor4D {
  const n = rng.normalTensor<tf.Tensor4D>(shape);
  if (schedule.kind === 'vp') return n;
  const z = tf.mul(n, schedule.sigma(top)) as tf.Tensor4D;
  n.dispose();
  return z;
}
