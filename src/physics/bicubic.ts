/**
 * Bicubic resampling matrices matching PyTorch's `F.interpolate(mode='bicubic', align_corners=False)`:
 *
 * - Downsampling with antialiasing (`antialias=True`, as PIL and MATLAB imresize): the Keys cubic
 *   with a = -0.5, stretched by the scale factor so it also low-pass filters, support 2·scale,
 *   taps clipped at the image border and each row renormalised to sum to 1.
 * - Upsampling without antialiasing: the cubic convolution with a = -0.75 sampled at
 *   scale·(i + 0.5) - 0.5, out-of-range taps replicated from the nearest border pixel.
 *
 * Both are 1-D matrices; an image is resampled with a `SeparableMap` (rows and columns).
 */
import * as tf from '@tensorflow/tfjs';
import { SeparableMap, zeroMatrix, type DenseMatrix } from './separable.js';

/** Keys' cubic with a = -0.5 (the antialiasing filter PyTorch, PIL and MATLAB use). */
function keysCubicHalf(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/**
 * Antialiased bicubic downsampling matrix (outSize x inSize) for scale = inSize / outSize >= 1.
 * Follows the weight computation of PyTorch's `_compute_indices_weights_aa` (and PIL's
 * ImagingResample): centre = scale·(i + 0.5), window [centre - support, centre + support) rounded,
 * weights cubic((j - centre + 0.5) / scale), normalised.
 */
export function bicubicDownsampleMatrix(inSize: number, outSize: number): DenseMatrix {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || outSize < 1 || outSize > inSize) {
    throw new Error(`bicubic downsampling needs 1 <= outSize <= inSize, got ${inSize} -> ${outSize}`);
  }
  const scale = inSize / outSize;
  const support = 2 * scale; // interp_size 4, half of it, stretched by the scale
  const m = zeroMatrix(outSize, inSize);
  for (let i = 0; i < outSize; i++) {
    const centre = scale * (i + 0.5);
    // Truncation toward zero, as the C++ int cast; clamped to the image afterwards.
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    let total = 0;
    for (let j = lo; j < hi; j++) total += keysCubicHalf((j - centre + 0.5) / scale);
    for (let j = lo; j < hi; j++) {
      m.data[i * inSize + j] = total !== 0 ? keysCubicHalf((j - centre + 0.5) / scale) / total : 0;
    }
  }
  return m;
}

/** Cubic convolution weights with a = -0.75 for a fractional offset t in [0, 1) (taps -1, 0, 1, 2). */
function cubicUpsampleWeights(t: number): [number, number, number, number] {
  const a = -0.75;
  const near = (x: number): number => ((a + 2) * x - (a + 3)) * x * x + 1; // |x| <= 1
  const far = (x: number): number => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; // 1 < |x| < 2
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/**
 * Bicubic upsampling matrix (outSize x inSize) as `F.interpolate(mode='bicubic',
 * align_corners=False)` without antialiasing; scale = inSize / outSize (PyTorch uses 1/scale_factor,
 * which is the same for integer factors).
 */
export function bicubicUpsampleMatrix(inSize: number, outSize: number): DenseMatrix {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new Error(`bicubic upsampling needs positive integer sizes, got ${inSize} -> ${outSize}`);
  }
  const scale = inSize / outSize;
  const m = zeroMatrix(outSize, inSize);
  for (let i = 0; i < outSize; i++) {
    const source = scale * (i + 0.5) - 0.5; // not clamped at 0 for cubic, as in PyTorch
    const base = Math.floor(source);
    const w = cubicUpsampleWeights(source - base);
    for (let k = 0; k < 4; k++) {
      const j = Math.min(Math.max(base - 1 + k, 0), inSize - 1);
      m.data[i * inSize + j] = (m.data[i * inSize + j] as number) + (w[k] as number);
    }
  }
  return m;
}

/**
 * Bicubic upsampling of an NHWC batch by an integer factor (for naive SR reconstructions). The
 * result is not clipped: bicubic overshoots slightly near edges.
 */
export function bicubicUpsample(x: tf.Tensor4D, factor: number): tf.Tensor4D {
  if (!Number.isInteger(factor) || factor < 1)
    throw new Error(`upsampling factor must be a positive integer, got ${factor}`);
  const [, h, w] = x.shape;
  const map = new SeparableMap(bicubicUpsampleMatrix(h, h * factor), bicubicUpsampleMatrix(w, w * factor));
  try {
    return map.apply(x);
  } finally {
    map.dispose();
  }
}
