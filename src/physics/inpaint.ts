/**
 * Inpainting: A(x) = mask ⊙ x with a 1 x H x W x 1 mask (1 = observed, 0 = missing) broadcast over
 * channels. A is diagonal, so A^T = A. Noise is added on observed entries only, so y is exactly 0
 * where pixels are missing.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator, OperatorSpec } from './operator.js';
import type { Rng } from '../util/random.js';
import { addMeasurementNoise, checkImageShape, checkSigmaY } from './noise.js';

export class InpaintOperator implements MeasurementOperator {
  readonly kind = 'inpaint';
  readonly inputShape: readonly [number, number, number];
  readonly outputShape: readonly [number, number, number];
  readonly sigmaY: number;
  private ownMask: tf.Tensor4D | undefined;
  private observation: tf.Tensor4D | undefined;

  private constructor(mask: tf.Tensor4D, channels: number, sigmaY: number) {
    const s = mask.shape;
    if (s.length !== 4 || s[0] !== 1 || s[3] !== 1) {
      throw new Error(`inpaint: the mask must be 1 x H x W x 1, got [${s.join(', ')}]`);
    }
    this.sigmaY = checkSigmaY(sigmaY, 'inpaint');
    this.inputShape = [s[1], s[2], channels];
    this.outputShape = this.inputShape;
    this.ownMask = tf.keep(tf.cast(mask, 'float32'));
  }

  /** Measure a clean image (batch 1): y = mask ⊙ (x + sigmaY·n), noise from `rng`. */
  static measure(
    xTrue: tf.Tensor4D,
    mask: tf.Tensor4D,
    options: { sigmaY?: number },
    rng: Rng,
  ): InpaintOperator {
    if (xTrue.shape[0] !== 1)
      throw new Error(`inpaint: the true image must have batch 1, got ${xTrue.shape[0]}`);
    const op = new InpaintOperator(mask, xTrue.shape[3], options.sigmaY ?? 0);
    try {
      checkImageShape(xTrue, op.inputShape, 'inpaint: image does not match the mask');
    } catch (e) {
      op.dispose();
      throw e;
    }
    const m = op.mask;
    op.observation = tf.keep(tf.tidy(() => addMeasurementNoise(op.forward(xTrue), op.sigmaY, rng, m)));
    return op;
  }

  /** Rebuild from a stored mask and observation y (batch 1). */
  static fromObservation(mask: tf.Tensor4D, y: tf.Tensor4D, options: { sigmaY?: number }): InpaintOperator {
    const op = new InpaintOperator(mask, y.shape[3], options.sigmaY ?? 0);
    try {
      checkImageShape(y, op.outputShape, 'inpaint observation');
      if (y.shape[0] !== 1) throw new Error(`inpaint: the observation must have batch 1, got ${y.shape[0]}`);
    } catch (e) {
      op.dispose();
      throw e;
    }
    op.observation = tf.keep(tf.clone(y));
    return op;
  }

  get mask(): tf.Tensor4D {
    if (!this.ownMask) throw new Error('inpaint: operator has been disposed');
    return this.ownMask;
  }

  get y(): tf.Tensor4D {
    if (!this.observation) throw new Error('inpaint: operator has been disposed');
    return this.observation;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    checkImageShape(x, this.inputShape, 'inpaint forward');
    return tf.mul(x, this.mask);
  }

  adjoint(y: tf.Tensor4D): tf.Tensor4D {
    checkImageShape(y, this.outputShape, 'inpaint adjoint');
    return tf.mul(y, this.mask);
  }

  /** Spec tensors are this operator's own (not copies): do not dispose them. */
  toSpec(): OperatorSpec {
    return {
      kind: this.kind,
      params: { sigmaY: this.sigmaY, inputShape: [...this.inputShape] },
      tensors: { mask: this.mask, y: this.y },
    };
  }

  dispose(): void {
    this.ownMask?.dispose();
    this.observation?.dispose();
    this.ownMask = undefined;
    this.observation = undefined;
  }
}
