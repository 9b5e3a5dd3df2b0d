/**
 * Conv2DBackpropInput (the input gradient of conv2d, also conv2dTranspose) rebuilt from forward
 * convolutions, because the stock wasm kernel is a naive loop ~15x slower than XNNPACK's conv.
 *
 * For y = conv(x, w) with stride s and top/left padding p, the input gradient is
 *   dx[i] = sum_{o, k : o*s + k - p = i} dy[o] * w[k].
 * Interleave s-1 zeros between the rows/columns of dy (position o -> o*s) and the sum becomes a
 * stride-1 correlation of that zero-interleaved dy with the spatially flipped, in/out-swapped
 * filter, after padding it by (K-1-p) before and (H + p - Ho*s) after (negative = crop). The
 * multiplications by inserted zeros are wasted work for stride 2, but XNNPACK's conv is still far
 * faster than the stock loop, and every step is an existing kernel (pad, reshape, conv2d).
 */
import * as tf from '@tensorflow/tfjs';
import {
  asTensor,
  convGeometry,
  interleaveZeros,
  padOrCrop,
  type ConvPad,
  type Shape4,
} from './conv-geometry.js';

/**
 * Input gradient of an NHWC conv2d (dilation 1) computed with a forward conv.
 * @param dy upstream gradient [N, Ho, Wo, Co]
 * @param filter conv filter [K_h, K_w, Ci, Co]
 * @param inShape shape of the conv input x, [N, H, W, Ci]
 */
export function conv2dInputGradient(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  inShape: Shape4,
  strides: number | [number, number],
  pad: ConvPad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const g = convGeometry(inShape, filter.shape, strides, pad, dimRoundingMode, false);
  const expected = [g.batch, g.outHeight, g.outWidth, g.outChannels];
  if (dy.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `conv2dInputGradient: dy shape [${dy.shape.join(', ')}], expected [${expected.join(', ')}]`,
    );
  }
  return tf.tidy(() => {
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
    const dilated = interleaveZeros(dy, g.strideHeight, g.strideWidth);
    const pads: [number, number, number, number] = [
      g.filterHeight - 1 - g.padTop,
      g.inHeight + g.padTop - g.outHeight * g.strideHeight,
      g.filterWidth - 1 - g.padLeft,
      g.inWidth + g.padLeft - g.outWidth * g.strideWidth,
    ];
    if (pads.every((p) => p >= 0)) {
      // Let the conv pad internally (no padded copy of dy).
      return tf.conv2d(dilated, flipped as tf.Tensor4D, 1, [
        [0, 0],
        [pads[0], pads[1]],
        [pads[2], pads[3]],
        [0, 0],
      ]);
    }
    return tf.conv2d(padOrCrop(dilated, pads), flipped as tf.Tensor4D, 1, 'valid');
  });
}

/**
 * A Conv2DBackpropInput kernel function for wasm. NCHW data (which the wasm forward conv does not
 * support either) goes to `stock`, the kernel this one replaces.
 */
export function makeConv2DBackpropInputKernel(stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
      if (stock === undefined) throw new Error('Conv2DBackpropInput: only NHWC is supported');
      return stock(args);
    }
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy, 'dy');
    const filter = asTensor<tf.Rank.R4>(args.inputs.filter, 'filter');
    return conv2dInputGradient(
      dy,
      filter,
      attrs.inputShape,
      attrs.strides,
      attrs.pad as ConvPad,
      attrs.dimRoundingMode,
    );
  };
}
