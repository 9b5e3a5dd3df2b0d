/**
 * MaxPoolGrad for wasm, replacing the stock kernel, whose results disagree with the cpu backend.
 * Semantics are the cpu backend's: each output's gradient goes to the FIRST position (in raster
 * order over the window) holding the window's maximum; positions outside the input never win.
 *
 * Built from whole-tensor ops, one pass per window tap (Kh*Kw passes, 4 for the usual 2x2 pool):
 * a tap wins where it equals the pooled output and no earlier tap has won; its share of dy is
 * then put back at its input positions by zero-interleaving by the stride and padding by the tap
 * offset (the adjoint of a strided slice), and the shares are summed.
 * Edge case left as is: a window whose in-bounds values are all -Infinity (or NaN) sends its
 * gradient to a padding position (dropped) or to the first -Infinity, where cpu drops it.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, interleaveZeros, padOrCrop, WindowTaps, type ConvPad } from './conv-geometry.js';

export function maxPoolInputGradient(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  filterSize: number | [number, number],
  strides: number | [number, number],
  pad: ConvPad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const info = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode);
  const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = info;
  const kh = info.effectiveFilterHeight;
  const kw = info.effectiveFilterWidth;
  const [, h, w] = x.shape;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // Padded extent the windows reach.
  const hp = (ho - 1) * sh + kh;
  const wp = (wo - 1) * sw + kw;
  return tf.tidy(() => {
    const xPad = padOrCrop(x, [top, hp - h - top, left, wp - w - left], Number.NEGATIVE_INFINITY);
    const windows = new WindowTaps(xPad, ho, wo, sh, sw);
    let unclaimed: tf.Tensor4D = tf.onesLike(y);
    const shares: tf.Tensor4D[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const tap = windows.tap(a, b);
        const wins = tf.mul(tf.cast(tf.equal(tap, y), 'float32'), unclaimed) as tf.Tensor4D;
        unclaimed = tf.sub(unclaimed, wins);
        const share = interleaveZeros(tf.mul(wins, dy), sh, sw);
        shares.push(padOrCrop(share, [a, hp - a - ho * sh, b, wp - b - wo * sw]));
      }
    }
    const summed = shares.length === 1 ? (shares[0] as tf.Tensor4D) : (tf.addN(shares) as tf.Tensor4D);
    return padOrCrop(summed, [-top, -(hp - h - top), -left, -(wp - w - left)]);
  });
}

export function makeMaxPoolGradKernel(): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy, 'dy');
    const x = asTensor<tf.Rank.R4>(args.inputs.input, 'input');
    const y = asTensor<tf.Rank.R4>(args.inputs.output, 'output');
    return maxPoolInputGradient(
      dy,
      x,
      y,
      attrs.filterSize,
      attrs.strides,
      attrs.pad as ConvPad,
      attrs.dimRoundingMode,
    );
  };
}
