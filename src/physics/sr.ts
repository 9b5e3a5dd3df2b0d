/**
 * Super-resolution: A = antialiased bicubic downsampling by an integer factor (DPS's 4x SR), exactly
 * PyTorch's `F.interpolate(x, scale_factor=1/factor, mode='bicubic', antialias=True)`. The map is a
 * pair of 1-D resampling matrices, so A^T is exact.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/random.js';
import { bicubicDownsampleMatrix } from './bicubic.js';
import { SeparableMap } from './separable.js';
import { SeparableOperator } from './separable-operator.js';

export interface SuperResolutionConfig {
  /** Shape of one high-resolution image [H, W, C]; H and W must be divisible by `factor`. */
  inputShape: readonly [number, number, number];
  /** Integer downsampling factor >= 1. */
  factor: number;
  sigmaY?: number;
}

export class SuperResolutionOperator extends SeparableOperator {
  readonly kind = 'sr';
  readonly factor: number;

  private constructor(config: SuperResolutionConfig) {
    const [h, w, c] = config.inputShape;
    const f = config.factor;
    if (!Number.isInteger(f) || f < 1) throw new Error(`sr: factor must be an integer >= 1, got ${f}`);
    if (h % f !== 0 || w % f !== 0) {
      throw new Error(`sr: image size ${h}x${w} is not divisible by the factor ${f}`);
    }
    const map = new SeparableMap(bicubicDownsampleMatrix(h, h / f), bicubicDownsampleMatrix(w, w / f));
    super([h, w, c], [h / f, w / f, c], config.sigmaY ?? 0, map, 'sr');
    this.factor = f;
  }

  /** Measure a clean image (batch 1): y = A(x) + sigmaY·n, noise from `rng`. */
  static measure(
    xTrue: tf.Tensor4D,
    options: { factor: number; sigmaY?: number },
    rng: Rng,
  ): SuperResolutionOperator {
    const [, h, w, c] = xTrue.shape;
    const op = new SuperResolutionOperator({ ...options, inputShape: [h, w, c] });
    op.observe(xTrue, rng);
    return op;
  }

  /** Rebuild from a stored observation y (batch 1). */
  static fromObservation(config: SuperResolutionConfig, y: tf.Tensor4D): SuperResolutionOperator {
    const op = new SuperResolutionOperator(config);
    op.adoptObservation(y);
    return op;
  }

  protected specParams(): Record<string, unknown> {
    return { factor: this.factor };
  }
}
