/**
 * Conv2DBackpropFilter (the weight gradient of conv2d), which the wasm backend lacks entirely, so
 * that models can train on wasm. For y = conv(x, w) with stride s and top/left padding p:
 *   dw[kh, kw, ci, co] = sum_{n, i, j} xPad[n, kh + i*s, kw + j*s, ci] * dy[n, i, j, co].
 * That is one matrix product: the transposed im2col matrix of x (one row block per window tap,
 * gathered with slices of the stride phases), times dy flattened to [N*Ho*Wo, Co]. The im2col
 * matrix holds N*Ho*Wo*Kh*Kw*Ci floats, so large inputs are processed in chunks (batch items,
 * then bands of output rows) whose products are summed.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, convGeometry, padOrCrop, WindowTaps, type ConvPad, type Shape4 } from './conv-geometry.js';

/** Largest im2col matrix built at once (floats), 32 Mi floats = 128 MiB; beyond it, chunks. */
export const MAX_IM2COL_FLOATS = 32 * 1024 * 1024;

interface Band {
  n0: number;
  n: number;
  r0: number;
  rows: number;
}

/** Split the work into batch chunks, and an item's output rows into bands, under the limit. */
function bands(batch: number, outHeight: number, floatsPerRow: number, limit: number): Band[] {
  const perItem = floatsPerRow * outHeight;
  const out: Band[] = [];
  if (perItem <= limit) {
    const chunk = Math.max(1, Math.min(batch, Math.floor(limit / perItem)));
    for (let n0 = 0; n0 < batch; n0 += chunk)
      out.push({ n0, n: Math.min(chunk, batch - n0), r0: 0, rows: outHeight });
    return out;
  }
  const rowsPerBand = Math.max(1, Math.floor(limit / floatsPerRow));
  for (let n0 = 0; n0 < batch; n0++) {
    for (let r0 = 0; r0 < outHeight; r0 += rowsPerBand) {
      out.push({ n0, n: 1, r0, rows: Math.min(rowsPerBand, outHeight - r0) });
    }
  }
  return out;
}

/**
 * Filter gradient of an NHWC conv2d (dilation 1).
 * @param x conv input [N, H, W, Ci]
 * @param dy upstream gradient [N, Ho, Wo, Co]
 * @param filterShape [K_h, K_w, Ci, Co]
 * @param maxIm2colFloats im2col size limit per chunk (batch items, then bands of output rows)
 */
export function conv2dFilterGradient(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: number | [number, number],
  pad: ConvPad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
  maxIm2colFloats = MAX_IM2COL_FLOATS,
): tf.Tensor4D {
  const g = convGeometry(x.shape, filterShape, strides, pad, dimRoundingMode, false);
  const expected = [g.batch, g.outHeight, g.outWidth, g.outChannels];
  if (dy.shape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `conv2dFilterGradient: dy shape [${dy.shape.join(', ')}], expected [${expected.join(', ')}]`,
    );
  }
  const [kh, kw, ci, co] = filterShape;
  const { strideHeight: sh, strideWidth: sw, outWidth: wo } = g;
  return tf.tidy(() => {
    // Pad exactly to the extent the windows reach, (Ho-1)*s + K rows; 'same'/explicit padding
    // can leave unused rows at the end, which padOrCrop then crops.
    const xPad = padOrCrop(x, [
      g.padTop,
      (g.outHeight - 1) * sh + kh - g.inHeight - g.padTop,
      g.padLeft,
      (wo - 1) * sw + kw - g.inWidth - g.padLeft,
    ]);
    let total: tf.Tensor2D | undefined;
    for (const band of bands(g.batch, g.outHeight, wo * kh * kw * ci, maxIm2colFloats)) {
      const { n0, n, r0, rows } = band;
      const part = tf.tidy(() => {
        const whole = n === g.batch && rows === g.outHeight;
        // Input rows the band's windows reach: [r0*s, (r0+rows-1)*s + K).
        const xs = whole ? xPad : tf.slice(xPad, [n0, r0 * sh, 0, 0], [n, (rows - 1) * sh + kh, -1, -1]);
        const dys = whole ? dy : tf.slice(dy, [n0, r0, 0, 0], [n, rows, -1, -1]);
        // Channels first ([Ci*N, H, W, 1]) so that each tap is already a [Ci, N*Ho*Wo] block and
        // stacking the taps yields the transposed im2col matrix [Kh*Kw*Ci, N*Ho*Wo] by contiguous
        // copies (concatenating NHWC taps on the channel axis, and matMul with transposeA, are
        // both slow on wasm).
        const [, hp, wp] = xs.shape;
        const xT = tf.transpose(xs, [3, 0, 1, 2]).reshape([ci * n, hp, wp, 1]) as tf.Tensor4D;
        const windows = new WindowTaps(xT, rows, wo, sh, sw);
        const taps: tf.Tensor4D[] = [];
        for (let a = 0; a < kh; a++) {
          for (let b = 0; b < kw; b++) taps.push(windows.tap(a, b));
        }
        const m = n * rows * wo;
        const colsT = taps.length === 1 ? (taps[0] as tf.Tensor4D) : tf.stack(taps);
        return tf.matMul(colsT.reshape([kh * kw * ci, m]), dys.reshape([m, co])) as tf.Tensor2D;
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
