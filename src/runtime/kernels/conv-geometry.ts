/**
 * Shared geometry and tensor plumbing for the replacement convolution kernels: padding that may
 * be negative (a crop), zero-interleaving ("dilating") a gradient by the stride, splitting a
 * tensor into its stride phases and back, and the window slices of an im2col. Everything here is
 * made of plain tfjs ops that exist on every backend, chosen among those that are fast on wasm.
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
      if (rows <= 0 || cols <= 0) {
        // Everything is cropped away: the result is pure padding.
        const outRows = h + top + bottom;
        const outCols = w + left + right;
        if (outRows <= 0 || outCols <= 0) throw new Error(`padOrCrop: empty result (${amounts.join(', ')})`);
        return tf.fill([n, outRows, outCols, c], value) as tf.Tensor4D;
      }
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
 * All window taps of a strided convolution over an already padded NHWC input:
 * tap(kh, kw)[n, i, j, c] = xPadded[n, kh + i*sh, kw + j*sw, c] for i < outHeight, j < outWidth.
 * Strided slices are very slow on wasm, so for stride > 1 the input is split once into its
 * sh*sw spatial phases (reshape + two 4-D transposes, cheap) and every tap is then a plain,
 * contiguous slice of one phase.
 */
export class WindowTaps {
  private readonly phases: tf.Tensor4D;
  private readonly batch: number;

  constructor(
    xPadded: tf.Tensor4D,
    private readonly outHeight: number,
    private readonly outWidth: number,
    private readonly strideHeight: number,
    private readonly strideWidth: number,
  ) {
    this.batch = xPadded.shape[0];
    this.phases =
      strideHeight === 1 && strideWidth === 1 ? xPadded : splitPhases(xPadded, strideHeight, strideWidth);
  }

  tap(kh: number, kw: number): tf.Tensor4D {
    const { strideHeight: sh, strideWidth: sw, batch, outHeight: ho, outWidth: wo } = this;
    const [rows, hq, wq, c] = this.phases.shape;
    const first = ((kw % sw) * sh + (kh % sh)) * batch;
    const r0 = Math.floor(kh / sh);
    const c0 = Math.floor(kw / sw);
    if (c === 1) {
      // The wasm slice copies one innermost run at a time: drop the unit channel axis so that
      // the runs are image rows, not single values.
      const t3 = this.phases.reshape([rows, hq, wq]);
      return tf.slice(t3, [first, r0, c0], [batch, ho, wo]).reshape([batch, ho, wo, 1]);
    }
    return tf.slice(this.phases, [first, r0, c0, 0], [batch, ho, wo, c]);
  }
}

/**
 * Split [B, H, W, C] into spatial phases: out[(rw*sh + rh)*B + b, q, p, c] = x[b, q*sh + rh,
 * p*sw + rw, c], shape [sh*sw*B, ceil(H/sh), ceil(W/sw), C] (zero-padded at the end as needed).
 */
export function splitPhases(x: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const hq = Math.ceil(h / sh);
    const wq = Math.ceil(w / sw);
    const t = hq * sh === h && wq * sw === w ? x : padOrCrop(x, [0, hq * sh - h, 0, wq * sw - w]);
    // Rows: [B, Hq, sh, Wq*sw*C] -> [sh, B, Hq, Wq*sw*C].
    const rows = t.reshape([b, hq, sh, wq * sw * c]).transpose([2, 0, 1, 3]);
    // Columns: [sh*B*Hq, Wq, sw, C] -> [sw, sh*B*Hq, Wq, C].
    const cols = rows.reshape([sh * b * hq, wq, sw, c]).transpose([2, 0, 1, 3]);
    return cols.reshape([sw * sh * b, hq, wq, c]);
  });
}

/**
 * Inverse of a phase split: given phases[rh * sw + rw] of shape [N, Qh, Qw, C], build
 * out[n, q*sh + rh, p*sw + rw, c] = phases[rh*sw + rw][n, q, p, c], shape [N, Qh*sh, Qw*sw, C].
 * Uses only stacks on the leading axis and 3-/4-D transposes (higher-rank transposes and
 * inner-axis concatenations are slow on wasm).
 */
export function interleavePhases(phases: tf.Tensor4D[], sh: number, sw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, qh, qw, c] = (phases[0] as tf.Tensor4D).shape;
    const rowBlocks: tf.Tensor[] = [];
    for (let rh = 0; rh < sh; rh++) {
      const group = phases.slice(rh * sw, rh * sw + sw);
      if (sw === 1) {
        rowBlocks.push((group[0] as tf.Tensor4D).reshape([n * qh, qw * c]));
        continue;
      }
      // [sw, N*Qh, Qw, C] -> [N*Qh, Qw, sw, C]: column index p*sw + rw.
      const stacked = tf.stack(group).reshape([sw, n * qh, qw, c]);
      rowBlocks.push(stacked.transpose([1, 2, 0, 3]).reshape([n * qh, qw * sw * c]));
    }
    if (sh === 1) return (rowBlocks[0] as tf.Tensor).reshape([n, qh, qw * sw, c]);
    // [sh, N*Qh, Qw*sw*C] -> [N*Qh, sh, Qw*sw*C]: row index q*sh + rh.
    return tf
      .stack(rowBlocks)
      .transpose([1, 0, 2])
      .reshape([n, qh * sh, qw * sw, c]);
  });
}

/** Narrow a kernel input to a Tensor; the engine passes Tensors to kernels that ops invoke. */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo | undefined, what: string): tf.Tensor<R> {
  if (info instanceof tf.Tensor) return info as tf.Tensor<R>;
  throw new Error(`replacement kernel: input '${what}' is not a tf.Tensor`);
}
