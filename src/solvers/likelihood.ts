/**
 * Data-fidelity terms: how far a batch of images x (N samples, pixels in [-1, 1]) is from the
 * observation y of a measurement operator A. Every function returns one value per sample, shape
 * [N], is differentiable with respect to x (tfjs gradients through A) and leaves nothing behind but
 * its result.
 *
 * Masks: an operator with a `mask` (inpainting) observes only the entries where the mask is 1;
 * every sum below runs over those entries only, so missing pixels never contribute (y is 0 there
 * and A(x) is 0 there for the inpainting operator anyway, but an operator whose forward does not
 * zero them would otherwise leak). Operators without a mask observe every entry.
 *
 * - `laplaceNll`: sum |y - A(x)| / b, the negative log-likelihood of a Laplace(A(x), b) model up to
 *   its constant (N_obs log 2b). VIPaint's likelihood (docs/method.md section 3; the paper's b is 0.56 for
 *   256 px data, 0.05 for ImageNet-64).
 * - `gaussianNll`: sum (y - A(x))^2 / (2 sigma^2), the Gaussian negative log-likelihood up to its
 *   constant.
 * - `l2Residual`: ||y - A(x)||_2 (not squared), the quantity whose gradient DPS follows (Chung et
 *   al. 2023, Alg. 1). A tiny constant under the square root keeps its gradient finite at an exact
 *   fit (where the true gradient is undefined).
 * - `PerceptualLoss`: a hook for a feature-space term (LPIPS, classifier features) between two
 *   image batches, per sample; `maskedImages` gives the masked versions it should compare.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator } from '../physics/operator.js';

/** A per-sample loss between two image batches (a: N samples, b: N or 1), shape [N]. */
export type PerceptualLoss = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.Tensor1D;

/** A per-sample data loss of an image batch, shape [N]. */
export type ImageLoss = (x: tf.Tensor4D) => tf.Tensor1D;

/** Added under the square root of `l2Residual` so that its gradient stays finite at a zero residual. */
export const L2_RESIDUAL_EPS = 1e-20;

/** y - A(x) on observed entries (0 elsewhere), [N, h, w, c]. */
export function observedResidual(op: MeasurementOperator, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const r = tf.sub(op.y, op.forward(x));
    return (op.mask ? tf.mul(r, op.mask) : r) as tf.Tensor4D;
  });
}

/** Sum over all but the batch axis: [N, ...] -> [N]. */
export function sumPerSample(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.reshape(t, [t.shape[0] as number, -1]), 1) as tf.Tensor1D);
}

function checkPositive(value: number, name: string, who: string): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new Error(`${who}: ${name} must be a finite number > 0, got ${value}`);
  }
}

/** sum over observed entries |y - A(x)| / b, per sample. */
export function laplaceNll(op: MeasurementOperator, x: tf.Tensor4D, b: number): tf.Tensor1D {
  checkPositive(b, 'the Laplace scale b', 'laplaceNll');
  return tf.tidy(() => tf.div(sumPerSample(tf.abs(observedResidual(op, x))), b) as tf.Tensor1D);
}

/** sum over observed entries (y - A(x))^2 / (2 sigma^2), per sample. */
export function gaussianNll(op: MeasurementOperator, x: tf.Tensor4D, sigma: number): tf.Tensor1D {
  checkPositive(sigma, 'sigma', 'gaussianNll');
  return tf.tidy(
    () => tf.div(sumPerSample(tf.square(observedResidual(op, x))), 2 * sigma * sigma) as tf.Tensor1D,
  );
}

/** ||y - A(x)||_2 over observed entries, per sample (DPS's residual norm). */
export function l2Residual(op: MeasurementOperator, x: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(
    () => tf.sqrt(tf.add(sumPerSample(tf.square(observedResidual(op, x))), L2_RESIDUAL_EPS)) as tf.Tensor1D,
  );
}

/**
 * The pair a perceptual term compares: A(x) and y on observed entries (for inpainting: the masked
 * reconstruction and the masked observation, as the paper feeds its feature network). Both are in
 * measurement space; y keeps batch 1 (broadcast by the loss).
 */
export function maskedImages(op: MeasurementOperator, x: tf.Tensor4D): { a: tf.Tensor4D; b: tf.Tensor4D } {
  return tf.tidy(() => {
    const ax = op.forward(x);
    if (!op.mask) return { a: ax, b: tf.clone(op.y) };
    return { a: tf.mul(ax, op.mask) as tf.Tensor4D, b: tf.mul(op.y, op.mask) as tf.Tensor4D };
  });
}

/** A per-sample perceptual term weight * loss(A(x) masked, y masked). */
export function perceptualTerm(
  op: MeasurementOperator,
  x: tf.Tensor4D,
  loss: PerceptualLoss,
  weight = 1,
): tf.Tensor1D {
  return tf.tidy(() => {
    const { a, b } = maskedImages(op, x);
    const v = loss(a, b);
    if (v.shape.length !== 1 || v.shape[0] !== x.shape[0]) {
      throw new Error(`perceptual loss must return one value per sample ([${x.shape[0]}]), got [${v.shape}]`);
    }
    return tf.mul(v, weight) as tf.Tensor1D;
  });
}

/** A perceptual term for a solver: the feature-space loss and its weight (default 1). */
export interface PerceptualOption {
  loss: PerceptualLoss;
  weight?: number;
}

/** `dataLoss` plus, when given, the perceptual term on the masked images (per sample). */
export function withPerceptual(
  op: MeasurementOperator,
  dataLoss: ImageLoss,
  perceptual?: PerceptualOption,
): ImageLoss {
  if (!perceptual) return dataLoss;
  return (x) =>
    tf.tidy(() => tf.add(dataLoss(x), perceptualTerm(op, x, perceptual.loss, perceptual.weight ?? 1)));
}

/** Number of observed entries of one measurement (all entries without a mask). */
export function observedCount(op: MeasurementOperator): number {
  const [h, w, c] = op.outputShape;
  if (!op.mask) return h * w * c;
  const perPixel = tf.tidy(() => tf.sum(op.mask as tf.Tensor4D).dataSync()[0] as number);
  // The mask is 1 x H x W x 1 (broadcast over channels) or full-shaped.
  return op.mask.shape[3] === 1 ? perPixel * c : perPixel;
}
