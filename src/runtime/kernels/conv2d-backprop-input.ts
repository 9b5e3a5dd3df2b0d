/**
 * Conv2DBackpropInput (the input gradient of conv2d, also conv2dTranspose) rebuilt from forward
 * convolutions, because the stock wasm kernel is a naive loop ~15x slower than XNNPACK's conv.
 *
 * For y = conv(x, w) with stride s and top/left padding p, the input gradient is
 *   dx[i] = sum_{o, k : o*s + k - p = i} dy[o] * w[k].
 * Stride 1: a correlation of dy, padded by (K-1-p) before, with the spatially flipped,
 * in/out-swapped filter (the one-phase case of the following).
 * Stride s > 1: split the outputs by phase, i = s*q + r. Only taps k = k0 + s*m with
 * k0 = (r + p) mod s reach phase r, and dx[s*q + r] = sum_m dy[q + d - m] * w[k0 + s*m] with
 * d = floor((r + p) / s): a stride-1 correlation of dy with a sub-filter, per phase (rows and
 * columns independently). The s*s phase results are interleaved back with reshapes/transposes.
 * Total multiplies equal the forward conv's; zero-interleaving dy instead would cost s*s times
 * more (4x for stride 2), and packing all phases into one conv 16/9 times more for 3x3.
 */
import * as tf from '@tensorflow/tfjs';
import {
  asTensor,
  convGeometry,
  interleavePhases,
  padOrCrop,
  type ConvPad,
  type Shape4,
} from './conv-geometry.js';

type Explicit = [[number, number], [number, number], [number, number], [number, number]];

/** Stride-1 conv with pads [top, bottom, left, right]; negative pads crop first. */
function convWithPads(
  dy: tf.Tensor4D,
  kernel: tf.Tensor4D,
  pads: [number, number, number, number],
): tf.Tensor4D {
  if (pads.every((p) => p >= 0)) {
    // Let the conv pad internally (no padded copy of dy).
    const explicit: Explicit = [
      [0, 0],
      [pads[0], pads[1]],
      [pads[2], pads[3]],
      [0, 0],
    ];
    return tf.conv2d(dy, kernel, 1, explicit);
  }
  return tf.conv2d(padOrCrop(dy, pads), kernel, 1, 'valid');
}

/** One output phase r of one spatial dimension. */
export interface Phase {
  /** Filter taps in correlation order (dy[q - padBefore + t] meets taps[t]); empty: no tap reaches r. */
  taps: number[];
  padBefore: number;
  padAfter: number;
}

/**
 * The phases of one spatial dimension of size inSize (gradient size outSize), kernel k, stride s,
 * leading padding padBefore. Every phase yields ceil(inSize / s) outputs (the last may overhang
 * inSize and is cropped after interleaving).
 */
export function dimensionPhases(
  inSize: number,
  outSize: number,
  k: number,
  s: number,
  padBefore: number,
): Phase[] {
  const perPhase = Math.ceil(inSize / s);
  return Array.from({ length: s }, (_, r) => {
    const c = r + padBefore;
    const k0 = c % s;
    const d = Math.floor(c / s);
    const m = k0 < k ? Math.ceil((k - k0) / s) : 0;
    // dx[q] = sum_m dy[q + d - m] w[k0 + s m]; as a correlation over t = m-1-m': tap k0 + s(m-1-t).
    const taps = Array.from({ length: m }, (_, t) => k0 + s * (m - 1 - t));
    return { taps, padBefore: m - 1 - d, padAfter: perPhase - outSize + d };
  });
}

/**
 * Input gradient of an NHWC conv2d (dilation 1) computed with forward convs.
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
  const [kh, kw, ci, co] = filter.shape;
  const { strideHeight: sh, strideWidth: sw } = g;
  const rows = dimensionPhases(g.inHeight, g.outHeight, kh, sh, g.padTop);
  const cols = dimensionPhases(g.inWidth, g.outWidth, kw, sw, g.padLeft);
  const pairs = rows.flatMap((row) => cols.map((col) => ({ row, col })));
  return tf.tidy(() => {
    // Taps as [Kh*Kw] slabs of [Co, Ci]: contiguous, so every sub-filter (for stride 1: the
    // whole flipped filter) is slices + a concatenation along the first axis, both plain copies
    // on wasm, where tf.reverse is several times slower.
    const slabs = tf.transpose(filter, [0, 1, 3, 2]).reshape([kh * kw, co, ci]);
    const subFilter = (row: Phase, col: Phase): tf.Tensor4D => {
      const pieces = row.taps.flatMap((a) =>
        col.taps.map((b) => tf.slice(slabs, [a * kw + b, 0, 0], [1, co, ci])),
      );
      const sub = pieces.length === 1 ? (pieces[0] as tf.Tensor3D) : tf.concat(pieces, 0);
      return sub.reshape([row.taps.length, col.taps.length, co, ci]);
    };
    const qh = Math.ceil(g.inHeight / sh);
    const qw = Math.ceil(g.inWidth / sw);
    const results: tf.Tensor4D[] = [];
    for (const { row, col } of pairs) {
      if (row.taps.length === 0 || col.taps.length === 0) {
        results.push(tf.zeros([g.batch, qh, qw, ci]));
        continue;
      }
      results.push(
        convWithPads(dy, subFilter(row, col), [row.padBefore, row.padAfter, col.padBefore, col.padAfter]),
      );
    }
    const full = interleavePhases(results, sh, sw);
    if (full.shape[1] === g.inHeight && full.shape[2] === g.inWidth) return full;
    return tf.slice(full, [0, 0, 0, 0], [g.batch, g.inHeight, g.inWidth, ci]);
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
