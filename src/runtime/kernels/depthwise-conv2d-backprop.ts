/**
 * DepthwiseConv2dNativeBackpropInput / BackpropFilter, both missing on wasm. Same decompositions
 * as the dense kernels (see conv2d-backprop-input.ts), per channel:
 * - input: zero-interleave dy by the stride, then a stride-1 depthwise conv with the spatially
 *   flipped filter, one output channel per (c, m) pair, summed over the multiplier m;
 * - filter: for each window tap, the strided slice of the padded input times dy, summed over
 *   batch and space (a depthwise filter has only Kh*Kw*C*M entries, so this is cheap).
 */
import * as tf from '@tensorflow/tfjs';
import {
  asTensor,
  convGeometry,
  interleaveZeros,
  isUnitDilation,
  padOrCrop,
  WindowTaps,
  type ConvPad,
  type Shape4,
} from './conv-geometry.js';

/**
 * Input gradient of tf.depthwiseConv2d (NHWC, dilation 1).
 * @param dy [N, Ho, Wo, C*M]; @param filter [Kh, Kw, C, M]; @param inShape [N, H, W, C]
 */
export function depthwiseInputGradient(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inShape: Shape4,
  strides: number | [number, number],
  pad: ConvPad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const g = convGeometry(inShape, filter.shape, strides, pad, dimRoundingMode, true);
  const [kh, kw, c, m] = filter.shape;
  return tf.tidy(() => {
    const flipped = tf.reverse(filter, [0, 1]).reshape([kh, kw, c * m, 1]) as tf.Tensor4D;
    const dilated = interleaveZeros(dy, g.strideHeight, g.strideWidth);
    const pads: [number, number, number, number] = [
      kh - 1 - g.padTop,
      g.inHeight + g.padTop - g.outHeight * g.strideHeight,
      kw - 1 - g.padLeft,
      g.inWidth + g.padLeft - g.outWidth * g.strideWidth,
    ];
    const perPair = tf.depthwiseConv2d(padOrCrop(dilated, pads), flipped, 1, 'valid');
    if (m === 1) return perPair;
    return perPair.reshape([g.batch, g.inHeight, g.inWidth, c, m]).sum(4) as tf.Tensor4D;
  });
}

/**
 * Filter gradient of tf.depthwiseConv2d (NHWC, dilation 1).
 * @param x [N, H, W, C]; @param dy [N, Ho, Wo, C*M]; @param filterShape [Kh, Kw, C, M]
 */
export function depthwiseFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: number | [number, number],
  pad: ConvPad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, true);
  const [kh, kw, c, m] = filterShape;
  return tf.tidy(() => {
    const pads: [number, number, number, number] = [
      g.padTop,
      (g.outHeight - 1) * g.strideHeight + kh - g.inHeight - g.padTop,
      g.padLeft,
      (g.outWidth - 1) * g.strideWidth + kw - g.inWidth - g.padLeft,
    ];
    const windows = new WindowTaps(
      padOrCrop(x, pads),
      g.outHeight,
      g.outWidth,
      g.strideHeight,
      g.strideWidth,
    );
    const dy5 = dy.reshape([g.batch, g.outHeight, g.outWidth, c, m]);
    const taps: tf.Tensor2D[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const tap = windows.tap(a, b);
        taps.push(tf.mul(tap.expandDims(4), dy5).sum([0, 1, 2]) as tf.Tensor2D);
      }
    }
    return tf.stack(taps).reshape([kh, kw, c, m]) as tf.Tensor4D;
  });
}

export function makeDepthwiseBackpropInputKernel(stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    if (!isUnitDilation(attrs.dilations)) {
      if (stock === undefined)
        throw new Error('DepthwiseConv2dNativeBackpropInput: dilation > 1 is not supported');
      return stock(args);
    }
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy, 'dy');
    const filter = asTensor<tf.Rank.R4>(args.inputs.filter, 'filter');
    return depthwiseInputGradient(
      dy,
      filter,
      attrs.inputShape,
      attrs.strides,
      attrs.pad as ConvPad,
      attrs.dimRoundingMode,
    );
  };
}

export function makeDepthwiseBackpropFilterKernel(stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    if (!isUnitDilation(attrs.dilations)) {
      if (stock === undefined)
        throw new Error('DepthwiseConv2dNativeBackpropFilter: dilation > 1 is not supported');
      return stock(args);
    }
    const x = asTensor<tf.Rank.R4>(args.inputs.x, 'x');
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy, 'dy');
    return depthwiseFilterGradient(
      x,
      dy,
      attrs.filterShape,
      attrs.strides,
      attrs.pad as ConvPad,
      attrs.dimRoundingMode,
    );
  };
}
