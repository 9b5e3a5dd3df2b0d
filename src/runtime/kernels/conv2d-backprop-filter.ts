/**
 * Conv2DBackpropFilter (the weight gradient of conv2d), which the wasm backend lacks entirely, so
 * that models can train on wasm. For y = conv(x, w) with stride s and top/left padding p:
 *   dw[kh, kw, ci, co] = sum_{n, i, j} xPad[n, kh + i*s, kw + j*s, ci] * dy[n, i, j, co].
 * That is one matrix product: the transposed im2col matrix of x (one row block per window tap,
 * gathered with strided slices), times dy flattened to [N*Ho*Wo, Co]. The im2col matrix holds
 * N*Ho*Wo*Kh*Kw*Ci floats, so large batches are processed in chunks and summed.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, convGeometry, padOrCrop, WindowTaps, type ConvPad, type Shape4 } from './conv-geometry.js';

/** Largest im2col matrix built at once (floats); bigger batches are split. 32 Mi floats = 128 MiB. */
const MAX_IM2COL_FLOATS = 32 * 1024 * 1024;

/**
 * Filter gradient of an NHWC conv2d (dilation 1).
 * @param x conv input [N, H, W, Ci]
 * @param dy upstream gradient [N, Ho, Wo, Co]
 * @param filterShape [K_h, K_w, Ci, Co]
 */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: number | [number, number],
  pad: ConvPad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
  const expected = [g.batch, g.outHeight, g.outWidth, g.outChannels];
  if (dy.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `conv2dFilterGradient: dy shape [${dy.shape.join(', ')}], expected [${expected.join(', ')}]`,
    );
  }
  const [kh, kw, ci, co] = filterShape;
  const perItem = g.outHeight * g.outWidth * kh * kw * ci;
  const chunk = Math.max(1, Math.min(g.batch, Math.floor(MAX_IM2COL_FLOATS / perItem)));
  return tf.tidy(() => {
    // Pad exactly to the extent the windows reach, (Ho-1)*s + K rows; 'same'/explicit padding
    // can leave unused rows at the end, which padOrCrop then crops.
    const pads: [number, number, number, number] = [
      g.padTop,
      (g.outHeight - 1) * g.strideHeight + kh - g.inHeight - g.padTop,
      g.padLeft,
      (g.outWidth - 1) * g.strideWidth + kw - g.inWidth - g.padLeft,
    ];
    let total: tf.Tensor2D | undefined;
    for (let n0 = 0; n0 < g.batch; n0 += chunk) {
      const n = Math.min(chunk, g.batch - n0);
      const part = tf.tidy(() => {
        const xs = n === g.batch ? x : tf.slice(x, [n0, 0, 0, 0], [n, -1, -1, -1]);
        const dys = n === g.batch ? dy : tf.slice(dy, [n0, 0, 0, 0], [n, -1, -1, -1]);
        // Channels first ([Ci*N, H, W, 1]) so that each tap is already a [Ci, N*Ho*Wo] block and
        // stacking the taps yields the transposed im2col matrix [Kh*Kw*Ci, N*Ho*Wo] by contiguous
        // copies (concatenating NHWC taps on the channel axis, and matMul with transposeA, are
        // both slow on wasm).
        const xPad = padOrCrop(xs, pads);
        const [, hp, wp] = xPad.shape;
        const xT = tf.transpose(xPad, [3, 0, 1, 2]).reshape([ci * n, hp, wp, 1]) as tf.Tensor4D;
        const windows = new WindowTaps(xT, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth);
        const taps: tf.Tensor4D[] = [];
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) taps.push(windows.tap(a, b));
        }
        const rows = n * g.outHeight * g.outWidth;
        const colsT = taps.length === 1 ? (taps[0] as tf.Tensor4D) : tf.stack(taps);
        return tf.matMul(colsT.reshape([kh * kw * ci, rows]), dys.reshape([rows, co])) as tf.Tensor2D;
      });
      if (total === undefined) {
        total = part;
      } else {
        const sum: tf.Tensor2D = tf.add(total, part);
        total.dispose();
        part.dispose();
        total = sum;
      }
    }
    return (total as tf.Tensor2D).reshape([kh, kw, ci, co]);
  });
}

/** A Conv2DBackpropFilter kernel function for wasm (NHWC only, like the wasm forward conv). */
export function makeConv2DBackpropFilterKernel(): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC') {
      throw new Error(
        `Conv2DBackpropFilter (wasm replacement): dataFormat ${attrs.dataFormat} is not supported`,
      );
    }
    const x = asTensor<tf.Rank.R4>(args.inputs.x, 'x');
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy, 'dy');
    return conv2dFilterGradient(
      x,
      dy,
      attrs.filterShape,
      attrs.strides,
      attrs.pad as ConvPad,
      attrs.dimRoundingMode,
    );
  };
}
