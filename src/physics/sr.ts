/**
 * Super-resolution: A = antialiased bicubic downsampling by an integer factor (DPS's 4x SR), exactly
 * PyTorch's `F.interpolate(x, scale_factor=1/factor, mode='bicubic', antialias=True)`. The map is a
 * pair of 1-D resampling matrices, so A^T is exact.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator, OperatorSpec } from './operator.js';
import type { Rng } from '../util/random.js';
import { bicubicDownsampleMatrix } from './bicubic.js';
import { SeparableMap } from './separable.js';
import { addMeasurementNoise, checkImageShape, checkSigmaY } from './noise.js';

export interface SuperResolutionConfig {
  /** Shape of one high-resolution image [H, W, C]; H and W must be divisible by `factor`. */
  inputShape: readonly [number, number, number];
  /** Integer downsampling factor >= 1. */
  factor: number;
  sigmaY?: number;
}

export class SuperResolutionOperator implements MeasurementOperator {
  readonly kind = 'sr';
  readonly inputShape: readonly [number, number, number];
  readonly outputShape: readonly [number, number, number];
  readonly sigmaY: number;
  readonly factor: number;
  private readonly map: SeparableMap;
  private observation: tf.Tensor4D | undefined;

  private constructor(config: SuperResolutionConfig) {
    const [h, w, c] = config.inputShape;
    const f = config.factor;
    if (!Number.isInteger(f) || f < 1) throw new Error(`sr: factor must be an integer >= 1, got ${f}`);
    if (h % f !== 0 || w % f !== 0) {
      throw new Error(`sr: image size ${h}x${w} is not divisible by the factor ${f}`);
    }
    this.factor = f;
    this.sigmaY = checkSigmaY(config.sigmaY ?? 0, 'sr');
    this.inputShape = [h, w, c];
    this.outputShape = [h / f, w / f, c];
    this.map = new SeparableMap(bicubicDownsampleMatrix(h, h / f), bicubicDownsampleMatrix(w, w / f));
  }

  /** Measure a clean image (batch 1): y = A(x) + sigmaY·n, noise from `rng`. */
  static measure(
    xTrue: tf.Tensor4D,
    options: { factor: number; sigmaY?: number },
    rng: Rng,
  ): SuperResolutionOperator {
    if (xTrue.shape[0] !== 1) throw new Error(`sr: the true image must have batch 1, got ${xTrue.shape[0]}`);
    const [, h, w, c] = xTrue.shape;
    const op = new SuperResolutionOperator({ ...options, inputShape: [h, w, c] });
    op.observation = tf.keep(tf.tidy(() => addMeasurementNoise(op.forward(xTrue), op.sigmaY, rng)));
    return op;
  }

  /** Rebuild from a stored observation y (batch 1). */
  static fromObservation(config: SuperResolutionConfig, y: tf.Tensor4D): SuperResolutionOperator {
    const op = new SuperResolutionOperator(config);
    try {
      checkImageShape(y, op.outputShape, 'sr observation');
      if (y.shape[0] !== 1) throw new Error(`sr: the observation must have batch 1, got ${y.shape[0]}`);
    } catch (e) {
      op.dispose();
      throw e;
    }
    op.observation = tf.keep(tf.clone(y));
    return op;
  }

  get y(): tf.Tensor4D {
    if (!this.observation) throw new Error('sr: operator has been disposed');
    return this.observation;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    checkImageShape(x, this.inputShape, 'sr forward');
    return this.map.apply(x);
  }

  adjoint(y: tf.Tensor4D): tf.Tensor4D {
    checkImageShape(y, this.outputShape, 'sr adjoint');
    return this.map.applyAdjoint(y);
  }

  /** Spec tensors are this operator's own (not copies): do not dispose them. */
  toSpec(): OperatorSpec {
    return {
      kind: this.kind,
      params: { factor: this.factor, sigmaY: this.sigmaY, inputShape: [...this.inputShape] },
      tensors: { y: this.y },
    };
  }

  dispose(): void {
    this.map.dispose();
    this.observation?.dispose();
    this.observation = undefined;
  }
}
