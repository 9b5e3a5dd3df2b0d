/**
 * Shared geometry and tensor plumbing for the replacement convolution kernels: padding that may
 * be negative (a crop), zero-interleaving ("dilating") a gradient by the stride, and the window
 * slices of an im2col. Everything here is made of plain tfjs ops that exist on every backend.
 */
import * as tf from '@tensorflow/tfjs';

/** NHWC 4-D shape. */
export type Shape4 = [number, number, number, number];

/** The resolved geometry of one NHWC convolution (dilation 1). */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/** The pad argument tfjs convolution kernels receive. */
export type ConvPad =
  'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

/**
 * Resolve the geometry with tfjs's own rule (backend_util.computeConv2DInfo), so that 'same',
 * numeric and explicit padding, and the rounding mode, mean exactly what the forward op meant.
 */
export function convGeometry(
  inShape: Shape4,
  filterShape: Shape4,
  strides: number | [number, number],
  pad: ConvPad,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    depthwise,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** True when every dilation is 1 (the only case the replacement kernels implement). */
export function isUnitDilation(dilations: number | [number, number] | undefined): boolean {
  if (dilations === undefined) return true;
  return typeof dilations === 'number' ? dilations === 1 : dilations[0] === 1 && dilations[1] === 1;
}

/**
 * Pad rows/columns of an NHWC tensor with a constant; a negative amount crops instead. Amounts are
 * [top, bottom, left, right].
 */
export function padOrCrop(x: tf.Tensor4D, amounts: [number, number, number, number], value = 0): tf.Tensor4D {
  const [top, bottom, left, right] = amounts;
  return tf.tidy(() => {
    let t = x;
    if (top < 0 || bottom < 0 || left < 0 || right < 0) {
      const [n, h, w, c] = t.shape;
      const r0 = Math.max(0, -top);
      const c0 = Math.max(0, -left);
      const rows = h - r0 - Math.max(0, -bottom);
      const cols = w - c0 - Math.max(0, -right);
      if (rows <= 0 || cols <= 0)
        throw new Error(`padOrCrop: crop leaves an empty tensor (${amounts.join(', ')})`);
      t = tf.slice(t, [0, r0, c0, 0], [n, rows, cols, c]);
    }
    const pt = Math.max(0, top);
    const pb = Math.max(0, bottom);
    const pl = Math.max(0, left);
    const pr = Math.max(0, right);
    if (pt === 0 && pb === 0 && pl === 0 && pr === 0) return t === x ? tf.clone(t) : t;
    return tf.pad(
      t,
      [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ],
      value,
    );
  });
}

/**
 * Insert (stride - 1) zeros after every row and column: out[n, i*sh, j*sw, c] = x[n, i, j, c], all
 * other entries 0, shape [n, h*sh, w*sw, c] (the trailing zeros are kept; callers crop them with
 * padOrCrop). Built from reshapes and pads only, which are cheap on every backend (no scatter).
 */
export function interleaveZeros(x: tf.Tensor4D, strideHeight: number, strideWidth: number): tf.Tensor4D {
  if (strideHeight === 1 && strideWidth === 1) return x;
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    let t: tf.Tensor4D = x;
    if (strideHeight > 1) {
      const rows = tf.pad(t.reshape([n, h, 1, w * c]), [
        [0, 0],
        [0, 0],
        [0, strideHeight - 1],
        [0, 0],
      ]);
      t = rows.reshape([n, h * strideHeight, w, c]);
    }
    if (strideWidth > 1) {
      const hh = t.shape[1];
      const cols = tf.pad(t.reshape([n * hh, w, 1, c]), [
        [0, 0],
        [0, 0],
        [0, strideWidth - 1],
        [0, 0],
      ]);
      t = cols.reshape([n, hh, w * strideWidth, c]);
    }
    return t;
  });
}

/**
 * The (kh, kw) window tap of a strided convolution over an already padded input:
 * out[n, i, j, c] = xPadded[n, kh + i*sh, kw + j*sw, c] for i < outHeight, j < outWidth.
 */
export function windowTap(
  xPadded: tf.Tensor4D,
  kh: number,
  kw: number,
  outHeight: number,
  outWidth: number,
  strideHeight: number,
  strideWidth: number,
): tf.Tensor4D {
  const [n, , , c] = xPadded.shape;
  if (strideHeight === 1 && strideWidth === 1) {
    return tf.slice(xPadded, [0, kh, kw, 0], [n, outHeight, outWidth, c]);
  }
  return tf.stridedSlice(
    xPadded,
    [0, kh, kw, 0],
    [n, kh + (outHeight - 1) * strideHeight + 1, kw + (outWidth - 1) * strideWidth + 1, c],
    [1, strideHeight, strideWidth, 1],
  ) as tf.Tensor4D;
}

/** Narrow a kernel input to a Tensor; the engine passes Tensors to kernels that ops invoke. */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo | undefined, what: string): tf.Tensor<R> {
  if (info instanceof tf.Tensor) return info as tf.Tensor<R>;
  throw new Error(`replacement kernel: input '${what}' is not a tf.Tensor`);
}
