/**
 * Self-attention for the diffusion UNets, arranged for speed on tfjs-wasm, where (measured here,
 * tfjs 4.22): a batched (rank-3) matMul is several times slower per item than a loop of rank-2
 * ones, a matMul with a transpose flag is ~7x slower than an explicit tf.transpose plus a plain
 * matMul, and tf.unstack along a strided (last) axis is very slow. tfjs' own matMul gradients use
 * the transpose flags, so the products here carry their own gradients (explicit transposes).
 *
 * The fused qkv projection of each codebase orders its 3*C output channels differently; the rows
 * of the checkpoint weight are permuted once at load time into separate q, k, v projections whose
 * channels all read head * ch + c, so no strided split happens per call.
 */
import * as tf from '@tensorflow/tfjs';
import { fusedAttention, hasFusedAttention } from '../runtime/kernels/attention.js';
import type { WeightStore } from './weights.js';

/**
 * Channel order of a fused qkv projection (j = 0, 1, 2 for q, k, v; ch = C / heads):
 * - 'head-qkv-channel' (openaimodel QKVAttentionLegacy): index (head * 3 + j) * ch + c;
 * - 'qkv-head-channel' (openaimodel QKVAttention, use_new_attention_order): (j * heads + head) * ch + c;
 * - 'head-channel-qkv' (EDM UNetBlock, reshape(B*heads, ch, 3, -1)): (head * ch + c) * 3 + j.
 */
export type QkvLayout = 'head-qkv-channel' | 'qkv-head-channel' | 'head-channel-qkv';

export function qkvChannel(
  layout: QkvLayout,
  j: number,
  head: number,
  c: number,
  heads: number,
  ch: number,
): number {
  if (layout === 'head-qkv-channel') return (head * 3 + j) * ch + c;
  if (layout === 'qkv-head-channel') return (j * heads + head) * ch + c;
  return (head * ch + c) * 3 + j;
}

/** a @ b for rank-2 tensors, differentiable in both, with plain (flag-free) matMuls throughout. */
export const matMulBoth = tf.customGrad(
  (a: tf.Tensor | tf.GradSaveFunc, b: tf.Tensor | tf.GradSaveFunc, save) => {
    const x = a as tf.Tensor2D;
    const y = b as tf.Tensor2D;
    (save as tf.GradSaveFunc)([x, y]);
    return {
      value: tf.matMul(x, y),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sy] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [
          tf.matMul(dy as tf.Tensor2D, tf.transpose(sy)),
          tf.matMul(tf.transpose(sx), dy as tf.Tensor2D),
        ];
      },
    };
  },
) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** x @ w for a constant w [in, out] with its transpose wT kept: only x gets a gradient. */
function matMulConst(x: tf.Tensor2D, w: tf.Tensor2D, wT: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.matMul(input as tf.Tensor2D, w),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, wT),
  })) as (v: tf.Tensor2D) => tf.Tensor2D;
  return f(x);
}

/**
 * A constant linear map x @ W + b over channels, from a checkpoint weight [out, in, 1(, 1)]
 * (Conv1d / 1x1 Conv2d) and bias [out], optionally keeping only the output rows `rows` (in that
 * order). The kernel-ready copies (W [in, out], W^T for the gradient, the picked bias) are made on
 * first use and owned by the store; building a network therefore only looks the keys up.
 */
export class ChannelProjection {
  private ready: { w: tf.Tensor2D; wT: tf.Tensor2D; b: tf.Tensor1D } | undefined;

  constructor(
    private readonly store: WeightStore,
    private readonly raw: tf.Tensor,
    private readonly bias: tf.Tensor,
    readonly outCh: number,
    readonly inCh: number,
    private readonly rows?: Int32Array,
  ) {}

  static fromCheckpoint(
    store: WeightStore,
    prefix: string,
    outCh: number,
    inCh: number,
    tail: readonly number[],
  ): ChannelProjection {
    const raw = store.take(`${prefix}.weight`, [outCh, inCh, ...tail]);
    const bias = store.take(`${prefix}.bias`, [outCh]);
    return new ChannelProjection(store, raw, bias, outCh, inCh);
  }

  /** [rows, in] -> [rows, out (or rows.length)] */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    const { w, wT, b } = this.prepare();
    return tf.tidy(() => tf.add(matMulConst(x, w, wT), b));
  }

  private prepare(): { w: tf.Tensor2D; wT: tf.Tensor2D; b: tf.Tensor1D } {
    if (this.ready) return this.ready;
    const [w, wT, b] = tf.tidy(() => {
      // Checkpoint rows are output channels: [out, in] is W^T for x @ W.
      let outByIn = tf.reshape(this.raw, [this.outCh, this.inCh]) as tf.Tensor2D;
      let b1 = tf.reshape(this.bias, [this.outCh]) as tf.Tensor1D;
      if (this.rows) {
        const idx = tf.tensor1d(this.rows, 'int32');
        outByIn = tf.gather(outByIn, idx) as tf.Tensor2D;
        b1 = tf.gather(b1, idx) as tf.Tensor1D;
      }
      return [tf.transpose(outByIn), outByIn, b1] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    });
    this.ready = { w: this.store.adopt(w), wT: this.store.adopt(wT), b: this.store.adopt(b) };
    return this.ready;
  }
}

/**
 * Multi-head self-attention core: a fused qkv projection (checkpoint layout `layout`, weight
 * [3C, C, ...tail]) from an already normalised NHWC map, softmax(q k^T / sqrt(ch)) v per head, and
 * the heads put back as channel head * ch + c. The output projection and residual are the caller's.
 */
export class QkvSelfAttention {
  private readonly q: ChannelProjection;
  private readonly k: ChannelProjection;
  private readonly v: ChannelProjection;
  private readonly ch: number;

  constructor(
    store: WeightStore,
    prefix: string,
    readonly channels: number,
    readonly heads: number,
    layout: QkvLayout,
    tail: readonly number[],
  ) {
    if (heads <= 0 || channels % heads !== 0) {
      throw new Error(`${prefix}: ${channels} channels do not split into ${heads} heads`);
    }
    this.ch = channels / heads;
    const raw = store.take(`${prefix}.weight`, [3 * channels, channels, ...tail]);
    const bias = store.take(`${prefix}.bias`, [3 * channels]);
    const part = (j: number) => {
      const rows = new Int32Array(channels);
      for (let head = 0; head < heads; head++)
        for (let c = 0; c < this.ch; c++)
          rows[head * this.ch + c] = qkvChannel(layout, j, head, c, heads, this.ch);
      return new ChannelProjection(store, raw, bias, 3 * channels, channels, rows);
    };
    // Each of q, k, v gets its own [C, C] map, rows picked from the fused [3C, C] weight.
    this.q = part(0);
    this.k = part(1);
    this.v = part(2);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      const tokens = h * w;
      const flat = tf.reshape(x, [n * tokens, c]) as tf.Tensor2D;
      if (hasFusedAttention()) {
        const seq = (t: tf.Tensor2D) => tf.reshape(t, [n, tokens, c]) as tf.Tensor3D;
        const scale = 1 / Math.sqrt(this.ch);
        const fused = fusedAttention(
          seq(this.q.apply(flat)),
          seq(this.k.apply(flat)),
          seq(this.v.apply(flat)),
          this.heads,
          scale,
        );
        if (fused) return tf.reshape(fused, [n, h, w, c]) as tf.Tensor4D;
      }
      const split = (t: tf.Tensor2D) => tf.reshape(t, [n, tokens, this.heads, this.ch]);
      // [n*heads] items of q [T, ch], k^T [ch, T], v [T, ch]; unstacking axis 0 copies contiguous blocks.
      const qs = tf.unstack(
        tf.reshape(tf.transpose(split(this.q.apply(flat)), [0, 2, 1, 3]), [-1, tokens, this.ch]),
      );
      const kTs = tf.unstack(
        tf.reshape(tf.transpose(split(this.k.apply(flat)), [0, 2, 3, 1]), [-1, this.ch, tokens]),
      );
      const vs = tf.unstack(
        tf.reshape(tf.transpose(split(this.v.apply(flat)), [0, 2, 1, 3]), [-1, tokens, this.ch]),
      );
      const scale = 1 / Math.sqrt(this.ch);
      const outs = qs.map((q, i) => {
        const logits = tf.mul(matMulBoth(q as tf.Tensor2D, kTs[i] as tf.Tensor2D), scale);
        return matMulBoth(tf.softmax(logits) as tf.Tensor2D, vs[i] as tf.Tensor2D);
      });
      const a = tf.reshape(tf.stack(outs), [n, this.heads, tokens, this.ch]);
      return tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [n, h, w, c]) as tf.Tensor4D;
    });
  }
}
