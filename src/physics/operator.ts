/**
 * A measurement operator A: x (NHWC image batch in [-1, 1]) -> y. Every operator is linear, so it
 * exposes its adjoint A^T as well; solvers use `forward` in likelihoods and `adjoint` for naive
 * reconstructions. An operator value on a pipeline edge carries its observation `y` with it.
 */
import type * as tf from '@tensorflow/tfjs';

export interface OperatorSpec {
  /** Registered kind, e.g. 'inpaint', 'sr', 'blur'. */
  kind: string;
  /** JSON-serialisable parameters (enough, with `tensors`, to rebuild the operator exactly). */
  params: Record<string, unknown>;
  /** Named tensors the operator owns (mask, kernel, observation y, ...). */
  tensors: Record<string, tf.Tensor>;
}

export interface MeasurementOperator {
  readonly kind: string;
  /** Shape of one clean image [H, W, C] that the operator accepts. */
  readonly inputShape: readonly [number, number, number];
  /** Shape of one measurement [h, w, c]. */
  readonly outputShape: readonly [number, number, number];
  /** Standard deviation of the additive Gaussian measurement noise (0 for none). */
  readonly sigmaY: number;
  /** The observation y = A(x_true) + noise, batch 1. */
  readonly y: tf.Tensor4D;
  /** Observed-entries mask in measurement space (inpainting); undefined means every entry is observed. */
  readonly mask?: tf.Tensor4D;
  /** A(x) without noise, for any batch size. Differentiable with tfjs gradients. */
  forward(x: tf.Tensor4D): tf.Tensor4D;
  /** A^T(y) for any batch size. */
  adjoint(y: tf.Tensor4D): tf.Tensor4D;
  toSpec(): OperatorSpec;
  dispose(): void;
}
