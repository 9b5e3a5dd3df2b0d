/**
 * Gaussian deblurring: A = convolution with a normalised size x size Gaussian (DPS: 61 x 61,
 * sigma 3.0), output the same size as the input. Borders: 'reflect' pads like PyTorch
 * `F.pad(mode='reflect')` (mirror without repeating the edge pixel, as DPS's ReflectionPad2d) or
 * 'zero'. The kernel is the outer product of a sampled 1-D Gaussian exp(-d²/2σ²) normalised to sum
 * 1 (identical to the normalised 2-D Gaussian), so the blur is separable: each 1-D pass is a banded
 * matrix with the padding folded in, and the adjoint (the transposed matrices) is exact.
 *
 * Unlike DPS's scipy kernel, the Gaussian is not truncated at 4σ: every tap of the window is used.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/random.js';
import { SeparableMap, zeroMatrix, type DenseMatrix } from './separable.js';
import { SeparableOperator } from './separable-operator.js';

export type BlurPadding = 'reflect' | 'zero';
export const BLUR_PADDINGS: readonly BlurPadding[] = ['reflect', 'zero'];

export interface GaussianBlurConfig {
  /** Shape of one image [H, W, C]. */
  inputShape: readonly [number, number, number];
  /** Odd kernel size (default 61). */
  size?: number;
  /** Standard deviation in pixels (default 3.0). */
  sigma?: number;
  padding?: BlurPadding;
  sigmaY?: number;
}

/** Sampled 1-D Gaussian of odd length `size`, normalised to sum 1. */
export function gaussianKernel1d(size: number, sigma: number): Float64Array {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) {
    throw new Error(`blur: kernel size must be an odd positive integer, got ${size}`);
  }
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`blur: sigma must be > 0, got ${sigma}`);
  const r = (size - 1) / 2;
  const k = new Float64Array(size);
  let total = 0;
  for (let i = 0; i < size; i++) {
    k[i] = Math.exp(-((i - r) * (i - r)) / (2 * sigma * sigma));
    total += k[i] as number;
  }
  for (let i = 0; i < size; i++) k[i] = (k[i] as number) / total;
  return k;
}

/**
 * The n x n matrix of "pad, then correlate with `kernel`, keep n outputs" along one axis. Reflect
 * padding maps padded index p < 0 to -p and p > n-1 to 2(n-1) - p, which needs radius <= n - 1 (the
 * PyTorch rule pad < n); the matrix then sums the weights of all taps landing on the same pixel.
 */
export function convolutionMatrix(n: number, kernel: Float64Array, padding: BlurPadding): DenseMatrix {
  const r = (kernel.length - 1) / 2;
  if (padding === 'reflect' && r > n - 1) {
    throw new Error(
      `blur: kernel size ${kernel.length} is too large for reflect padding of a ${n}-pixel axis ` +
        `(needs size <= ${2 * n - 1}); use a smaller kernel or padding 'zero'`,
    );
  }
  const m = zeroMatrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < kernel.length; t++) {
      let p = i + t - r;
      if (p < 0 || p > n - 1) {
        if (padding === 'zero') continue;
        p = p < 0 ? -p : 2 * (n - 1) - p;
      }
      m.data[i * n + p] = (m.data[i * n + p] as number) + (kernel[t] as number);
    }
  }
  return m;
}

export class GaussianBlurOperator extends SeparableOperator {
  readonly kind = 'blur';
  readonly size: number;
  readonly sigma: number;
  readonly padding: BlurPadding;

  private constructor(config: GaussianBlurConfig) {
    const [h, w, c] = config.inputShape;
    const size = config.size ?? 61;
    const sigma = config.sigma ?? 3.0;
    const padding = config.padding ?? 'reflect';
    if (!BLUR_PADDINGS.includes(padding)) {
      throw new Error(`blur: padding must be one of ${BLUR_PADDINGS.join(', ')}, got '${String(padding)}'`);
    }
    const kernel = gaussianKernel1d(size, sigma);
    const map = new SeparableMap(
      convolutionMatrix(h, kernel, padding),
      convolutionMatrix(w, kernel, padding),
    );
    super([h, w, c], [h, w, c], config.sigmaY ?? 0, map, 'blur');
    this.size = size;
    this.sigma = sigma;
    this.padding = padding;
  }

  /** Measure a clean image (batch 1): y = A(x) + sigmaY·n, noise from `rng`. */
  static measure(
    xTrue: tf.Tensor4D,
    options: Omit<GaussianBlurConfig, 'inputShape'>,
    rng: Rng,
  ): GaussianBlurOperator {
    const [, h, w, c] = xTrue.shape;
    const op = new GaussianBlurOperator({ ...options, inputShape: [h, w, c] });
    op.observe(xTrue, rng);
    return op;
  }

  /** Rebuild from a stored observation y (batch 1). */
  static fromObservation(config: GaussianBlurConfig, y: tf.Tensor4D): GaussianBlurOperator {
    const op = new GaussianBlurOperator(config);
    op.adoptObservation(y);
    return op;
  }

  protected specParams(): Record<string, unknown> {
    return { size: this.size, sigma: this.sigma, padding: this.padding };
  }
}
