/**
 * Small functional building blocks for networks ported from PyTorch checkpoints. Every block takes
 * its parameters from a WeightStore under the official state_dict names (`<prefix>.weight`,
 * `<prefix>.bias`), works on NHWC float32 tensors, is differentiable with respect to its input on
 * the wasm and cpu backends, and reproduces PyTorch's numerics (explicit symmetric padding,
 * biased group/layer-norm variance, the same epsilons).
 *
 * Parameters live in the store: disposing the store (WeightStore.dispose) frees every block built
 * from it. Blocks keep no other tensors, so they have nothing of their own to dispose.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedAttention } from '../runtime/kernels/attention.js';
import { fusedGroupNorm } from '../runtime/kernels/group-norm.js';
import type { WeightStore } from './weights.js';

/** Explicit padding per spatial side, PyTorch-style: [top, bottom, left, right]. */
export type Padding4 = readonly [number, number, number, number];

export interface Conv2dOptions {
  /** Stride in both directions (default 1). */
  stride?: number;
  /** Symmetric zero padding (PyTorch `padding=p`), or explicit [top, bottom, left, right]. Default 0. */
  padding?: number | Padding4;
  /** Whether `<prefix>.bias` exists (default true). */
  bias?: boolean;
}

/**
 * torch.nn.Conv2d (groups = 1, dilation = 1). Padding is passed as explicit amounts, because
 * tfjs 'same' pads stride-2 convolutions (0, 1) where PyTorch pads (1, 1).
 *
 * Gradients: parameters are treated as constants (inference-only networks). For stride 1, the
 * input gradient is a forward convolution of the output gradient with the spatially flipped,
 * in/out-swapped kernel, flipped once and cached in the store (WeightStore.cacheFlippedKernels;
 * the cache doubles conv weight memory once a gradient has been taken, so by default ('auto') only
 * stores of at most 256 MiB of parameters cache, see weights.ts). Measured on wasm, SD-VAE-size decoder (ch 128, 64x64 output), repeated input
 * gradients: 13 s with this versus 21-33 s through tfjs' gradient and the project's
 * Conv2DBackpropInput kernel, which flips the filter at every call. Stride-2 convolutions use
 * tfjs' own gradient (the project's kernel handles that case without the zero-dilation waste);
 * `applyFlippedKernelGrad` forces the flipped-kernel route (zero-dilated dy) for any stride.
 */
export class Conv2d {
  readonly filter: tf.Tensor4D;
  readonly bias: tf.Tensor1D | undefined;
  readonly stride: number;
  readonly pad: Padding4;
  private flipped: tf.Tensor4D | undefined;
  private readonly withGrad: (x: tf.Tensor4D) => tf.Tensor4D;

  constructor(
    private readonly store: WeightStore,
    prefix: string,
    readonly inCh: number,
    readonly outCh: number,
    readonly kernel: number,
    options: Conv2dOptions = {},
  ) {
    this.stride = options.stride ?? 1;
    const p = options.padding ?? 0;
    this.pad = typeof p === 'number' ? [p, p, p, p] : p;
    if (this.pad.some((v) => v < 0 || v > kernel - 1)) {
      throw new Error(`Conv2d ${prefix}: padding ${JSON.stringify(this.pad)} outside [0, ${kernel - 1}]`);
    }
    this.filter = store.conv2d(`${prefix}.weight`, outCh, inCh, kernel, kernel);
    this.bias = options.bias === false ? undefined : (store.take(`${prefix}.bias`, [outCh]) as tf.Tensor1D);
    this.withGrad = tf.customGrad((x: tf.Tensor | tf.GradSaveFunc) => {
      const input = x as tf.Tensor4D;
      const [, h, w] = input.shape;
      return {
        value: this.forward(input),
        gradFunc: (dy: tf.Tensor) => this.inputGrad(dy as tf.Tensor4D, h, w),
      };
    }) as (x: tf.Tensor4D) => tf.Tensor4D;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    if (x.shape[3] !== this.inCh)
      throw new Error(`Conv2d: expected ${this.inCh} input channels, got ${x.shape[3]}`);
    return this.stride === 1 ? this.withGrad(x) : this.forward(x);
  }

  /** The convolution with the flipped-kernel input gradient, whatever the stride (see above). */
  applyFlippedKernelGrad(x: tf.Tensor4D): tf.Tensor4D {
    return this.withGrad(x);
  }

  private forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [t, b, l, r] = this.pad;
      const y = tf.conv2d(x, this.filter, this.stride, explicitPad(t, b, l, r));
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  /**
   * dL/dx for input height h, width w. With dy dilated by the stride (zeros between rows/cols),
   * dx[j] = sum_m dy_dilated[m] * w[j + padTop - m]: a 'valid' correlation with the flipped kernel
   * after padding dy by (k-1-padTop) before and (h - Hd + padTop) after (Hd = dilated length).
   */
  private inputGrad(dy: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
    const k = this.kernel;
    const flip = (): tf.Tensor4D =>
      tf.tidy(() => tf.transpose(tf.reverse(this.filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D);
    if (this.store.cachesFlippedKernels()) this.flipped ??= this.store.adopt(flip());
    return tf.tidy(() => {
      const flipped = this.flipped ?? flip();
      const d = this.stride > 1 ? dilate(dy, this.stride) : dy;
      const [, hd, wd] = d.shape;
      const [pt, , pl] = this.pad;
      const [top, bottom, left, right] = [k - 1 - pt, h - hd + pt, k - 1 - pl, w - wd + pl];
      if (bottom < 0 || right < 0) return tf.conv2d(padHW(d, top, bottom, left, right), flipped, 1, 'valid');
      return tf.conv2d(d, flipped, 1, explicitPad(top, bottom, left, right));
    });
  }
}

/**
 * Zero padding of the spatial axes as the convolution's own explicit padding: the kernel pads
 * while it reads (XNNPACK on wasm), one launch and one copy less than tf.pad + 'valid'.
 */
function explicitPad(
  top: number,
  bottom: number,
  left: number,
  right: number,
): tf.backend_util.ExplicitPadding | 'valid' {
  if (!(top || bottom || left || right)) return 'valid';
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** Zero-pad (or crop, for negative amounts) the two spatial axes of an NHWC tensor. */
function padHW(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const cropB = Math.max(0, -bottom);
  const cropR = Math.max(0, -right);
  const cropped = cropB || cropR ? tf.slice(x, [0, 0, 0, 0], [n, h - cropB, w - cropR, c]) : x;
  return tf.pad(cropped, [
    [0, 0],
    [top, Math.max(0, bottom)],
    [left, Math.max(0, right)],
    [0, 0],
  ]);
}

/** Insert (s - 1) zeros between neighbouring rows and columns: [n, h, w, c] -> [n, s(h-1)+1, s(w-1)+1, c]. */
function dilate(x: tf.Tensor4D, s: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const spread = tf.pad(tf.reshape(x, [n, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, s - 1],
    [0, 0],
    [0, s - 1],
    [0, 0],
  ]);
  const full = tf.reshape(spread, [n, h * s, w * s, c]) as tf.Tensor4D;
  return tf.slice(full, [0, 0, 0, 0], [n, s * (h - 1) + 1, s * (w - 1) + 1, c]);
}

/** torch.nn.Linear on the last axis of any-rank input. */
export class Linear {
  readonly weight: tf.Tensor2D;
  readonly bias: tf.Tensor1D | undefined;

  constructor(
    store: WeightStore,
    prefix: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    this.weight = store.linear(`${prefix}.weight`, outFeatures, inFeatures);
    this.bias = bias ? (store.take(`${prefix}.bias`, [outFeatures]) as tf.Tensor1D) : undefined;
  }

  apply<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const flat = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      let y: tf.Tensor = tf.matMul(flat, this.weight);
      if (this.bias) y = tf.add(y, this.bias);
      return tf.reshape(y, [...lead, this.outFeatures]) as T;
    });
  }
}

/**
 * torch.nn.GroupNorm on NHWC input: statistics over (H, W, channels of the group), biased variance,
 * then a per-channel affine map. Everything is float32 here, which is also what CompVis'
 * GroupNorm32 computes in. Epsilons differ between codebases: CompVis `Normalize` in
 * diffusionmodules/model.py uses 1e-6, openaimodel's `normalization` (GroupNorm32) the PyTorch
 * default 1e-5; the caller passes the right one.
 */
export class GroupNorm {
  readonly gamma: tf.Tensor1D | undefined;
  readonly beta: tf.Tensor1D | undefined;

  constructor(
    store: WeightStore,
    prefix: string,
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    if (channels % groups !== 0) {
      throw new Error(`GroupNorm ${prefix}: ${channels} channels do not split into ${groups} groups`);
    }
    this.gamma = affine ? (store.take(`${prefix}.weight`, [channels]) as tf.Tensor1D) : undefined;
    this.beta = affine ? (store.take(`${prefix}.bias`, [channels]) as tf.Tensor1D) : undefined;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    this.check(x);
    return this.fused(x, false) ?? this.withGrad(x);
  }

  /** silu(apply(x)), in one kernel (and one for its gradient) where the backend has it. */
  applySilu(x: tf.Tensor4D): tf.Tensor4D {
    this.check(x);
    return this.fused(x, true) ?? silu(this.withGrad(x));
  }

  private check(x: tf.Tensor4D): void {
    if (x.shape[3] !== this.channels) {
      throw new Error(`GroupNorm: expected ${this.channels} channels, got ${x.shape[3]}`);
    }
  }

  /** The fused kernel (src/runtime/kernels/group-norm.ts, wasm only), or undefined. */
  private fused(x: tf.Tensor4D, withSilu: boolean): tf.Tensor4D | undefined {
    if (!this.gamma || !this.beta) return undefined;
    return fusedGroupNorm(x, this.gamma, this.beta, this.groups, this.eps, withSilu);
  }

  /**
   * Forward as the textbook formula; backward analytic, saving only x and the per-group mean and
   * 1/std (tfjs' automatic gradient of the formula keeps ~5 full-size intermediates and their
   * gradients alive per norm, the main memory cost of a decoder's input gradient):
   * dx = rstd * (g - mean_grp(g) - xhat * mean_grp(g * xhat)), g = dy * gamma, xhat = (x - mean) * rstd.
   */
  private readonly withGrad = tf.customGrad(
    (input: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
      const x = input as tf.Tensor4D;
      const [n, h, w, c] = x.shape;
      const shape5 = [n, h, w, this.groups, c / this.groups];
      const g = tf.reshape(x, shape5);
      const { mean, variance } = tf.moments(g, [1, 2, 4], true);
      const rstd = tf.rsqrt(tf.add(variance, this.eps));
      (save as tf.GradSaveFunc)([x, mean, rstd]);
      let value: tf.Tensor = tf.reshape(tf.mul(tf.sub(g, mean), rstd), [n, h, w, c]);
      if (this.gamma && this.beta) value = tf.add(tf.mul(value, this.gamma), this.beta);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
        tf.tidy(() => {
          const [xs, mu, rs] = saved as [tf.Tensor4D, tf.Tensor, tf.Tensor];
          const dyg = tf.reshape(this.gamma ? tf.mul(dy, this.gamma) : dy, shape5);
          const xhat = tf.mul(tf.sub(tf.reshape(xs, shape5), mu), rs);
          const m1 = tf.mean(dyg, [1, 2, 4], true);
          const m2 = tf.mean(tf.mul(dyg, xhat), [1, 2, 4], true);
          const dx = tf.mul(rs, tf.sub(tf.sub(dyg, m1), tf.mul(xhat, m2)));
          return tf.reshape(dx, [n, h, w, c]);
        });
      return { value: value as tf.Tensor4D, gradFunc };
    },
  ) as (x: tf.Tensor4D) => tf.Tensor4D;
}

/** torch.nn.LayerNorm over the last axis (biased variance, eps default 1e-5). */
export class LayerNorm {
  readonly gamma: tf.Tensor1D | undefined;
  readonly beta: tf.Tensor1D | undefined;

  constructor(
    store: WeightStore,
    prefix: string,
    readonly dim: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    this.gamma = affine ? (store.take(`${prefix}.weight`, [dim]) as tf.Tensor1D) : undefined;
    this.beta = affine ? (store.take(`${prefix}.bias`, [dim]) as tf.Tensor1D) : undefined;
  }

  apply<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const axis = x.rank - 1;
      const { mean, variance } = tf.moments(x, axis, true);
      let y: tf.Tensor = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      if (this.gamma && this.beta) y = tf.add(tf.mul(y, this.gamma), this.beta);
      return y as T;
    });
  }
}

/** SiLU / swish: x * sigmoid(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return siluWithGrad(x) as T;
}

/** Forward x * sigmoid(x); gradient sigmoid(x) * (1 + x * (1 - sigmoid(x))) from the saved x only. */
const siluWithGrad = tf.customGrad(
  (input: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const x = input as tf.Tensor;
    (save as tf.GradSaveFunc)([x]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
      tf.tidy(() => {
        const xs = saved[0] as tf.Tensor;
        const sig = tf.sigmoid(xs);
        return tf.mul(dy, tf.mul(sig, tf.add(1, tf.mul(xs, tf.sub(1, sig)))));
      });
    return { value: tf.mul(x, tf.sigmoid(x)), gradFunc };
  },
) as (x: tf.Tensor) => tf.Tensor;

/**
 * Nearest-neighbour 2x upsampling (F.interpolate(scale_factor=2, mode='nearest')), NHWC:
 * out[2i + a, 2j + b] = in[i, j]. Forward by tfjs' resizeNearestNeighbor (without half-pixel
 * centres it picks floor(dst / 2): the same values, 5x faster on wasm than a rank-6 tile); the
 * gradient, the sum over each 2x2 block, as 4 * avgPool (3x faster than a rank-6 reshape-sum).
 */
export const upsampleNearest2x: (x: tf.Tensor4D) => tf.Tensor4D = tf.customGrad(
  (input: tf.Tensor | tf.GradSaveFunc) => {
    const x = input as tf.Tensor4D;
    const [, h, w] = x.shape;
    const value = tf.image.resizeNearestNeighbor(x, [2 * h, 2 * w], false, false);
    const gradFunc = (dy: tf.Tensor): tf.Tensor =>
      tf.tidy(() => tf.mul(tf.avgPool(dy as tf.Tensor4D, 2, 2, 'valid'), 4));
    return { value, gradFunc };
  },
) as (x: tf.Tensor4D) => tf.Tensor4D;

/** 2x2 average pooling with stride 2 (F.avg_pool2d(kernel_size=2, stride=2)); odd edges are dropped like PyTorch. */
export function avgPool2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const h2 = Math.floor(h / 2);
    const w2 = Math.floor(w / 2);
    const even = h === 2 * h2 && w === 2 * w2 ? x : tf.slice(x, [0, 0, 0, 0], [n, 2 * h2, 2 * w2, c]);
    return tf.mean(tf.reshape(even, [n, h2, 2, w2, 2, c]), [2, 4]) as tf.Tensor4D;
  });
}

/**
 * Sinusoidal timestep embedding as in CompVis openaimodel.py `timestep_embedding`:
 * freqs_i = exp(-ln(maxPeriod) * i / half), i < half = floor(dim / 2); output
 * [cos(t * freqs), sin(t * freqs)] (cos first), zero-padded by one column when dim is odd.
 * (diffusionmodules/model.py's `get_timestep_embedding` differs: sin first, divisor half - 1.)
 */
export function timestepEmbedding(
  t: tf.Tensor1D | readonly number[],
  dim: number,
  maxPeriod = 10000,
): tf.Tensor2D {
  return tf.tidy(() => {
    const half = Math.floor(dim / 2);
    const freqs = new Float32Array(half);
    // PyTorch forms the exponent in float32 (-log(P) * arange(float32) / half): round each step alike,
    // since at t ~ 1000 one ulp of a frequency moves cos/sin by ~1e-4.
    const negLog = Math.fround(-Math.log(maxPeriod));
    for (let i = 0; i < half; i++) freqs[i] = Math.exp(Math.fround(Math.fround(negLog * i) / half));
    const times = Array.isArray(t)
      ? tf.tensor1d(t as number[], 'float32')
      : tf.cast(t as tf.Tensor1D, 'float32');
    const args = tf.mul(tf.reshape(times, [-1, 1]), tf.tensor2d(freqs, [1, half]));
    let emb: tf.Tensor = tf.concat([tf.cos(args), tf.sin(args)], 1);
    if (dim % 2 === 1)
      emb = tf.pad(emb, [
        [0, 0],
        [0, 1],
      ]);
    return emb as tf.Tensor2D;
  });
}

/**
 * Scaled dot-product attention: softmax(q k^T * scale) v over the last two axes.
 * q [..., Nq, D], k [..., Nk, D], v [..., Nk, Dv] -> [..., Nq, Dv]; scale defaults to 1/sqrt(D).
 * Uses batched matMul and softmax only (no Einsum: wasm lacks it).
 */
export function attention<T extends tf.Tensor>(q: T, k: T, v: T, scale?: number): T {
  return tf.tidy(() => {
    const d = q.shape[q.rank - 1] as number;
    const s = scale ?? 1 / Math.sqrt(d);
    // One launch forward and one backward where the backend has the fused kernel (wasm).
    if (q.rank === 3 && k.rank === 3 && v.rank === 3 && v.shape[2] === d) {
      const fused = fusedAttention(
        q as tf.Tensor as tf.Tensor3D,
        k as tf.Tensor as tf.Tensor3D,
        v as tf.Tensor as tf.Tensor3D,
        1,
        s,
      );
      if (fused) return fused as unknown as T;
    }
    const logits = tf.mul(tf.matMul(q, k, false, true), s);
    return tf.matMul(tf.softmax(logits), v) as T;
  });
}

/**
 * Gradient checkpointing: `checkpointed(fn)(x)` returns fn(x) without keeping fn's intermediate
 * tensors for backprop; the gradient recomputes fn from the saved input (one extra forward of fn).
 * Wrap large blocks (a ResnetBlock) so an input gradient through a deep network keeps only the
 * block inputs alive: peak memory then scales with one block, not the whole network. fn must be
 * deterministic and its only differentiable input x (parameters are constants); no second-order
 * gradients.
 *
 * tfjs 4.22 cannot nest tf.grad inside a gradient function (the nested call resets the engine's
 * active tape, and the outer backward then fails), so the outer tape is restored around it.
 */
export function checkpointed(fn: (x: tf.Tensor4D) => tf.Tensor4D): (x: tf.Tensor4D) => tf.Tensor4D {
  return tf.customGrad((input: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const x = input as tf.Tensor4D;
    (save as tf.GradSaveFunc)([x]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
      const state = tf.engine().state;
      const outerTape = state.activeTape;
      try {
        return tf.grad((xi) => tf.sum(tf.mul(fn(xi as tf.Tensor4D), dy)))(saved[0] as tf.Tensor4D);
      } finally {
        state.activeTape = outerTape;
      }
    };
    return { value: tf.tidy(() => fn(x)), gradFunc };
  }) as (x: tf.Tensor4D) => tf.Tensor4D;
}

/**
 * GELU with the exact erf form, 0.5 x (1 + erf(x / sqrt 2)), as torch's F.gelu by default (not the
 * tanh approximation, which differs by up to ~5e-4). Gradient from the saved x only:
 * 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi).
 */
export const geluErf: <T extends tf.Tensor>(x: T) => T = tf.customGrad(
  (input: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const x = input as tf.Tensor;
    (save as tf.GradSaveFunc)([x]);
    const cdf = (v: tf.Tensor) => tf.mul(0.5, tf.add(1, tf.erf(tf.mul(v, Math.SQRT1_2))));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
      tf.tidy(() => {
        const xs = saved[0] as tf.Tensor;
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return tf.mul(dy, tf.add(cdf(xs), tf.mul(xs, pdf)));
      });
    return { value: tf.mul(x, cdf(x)), gradFunc };
  },
) as <T extends tf.Tensor>(x: T) => T;
