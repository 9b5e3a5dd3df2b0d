/**
 * The cross-attention transformer of CompVis latent-diffusion `ldm/modules/attention.py`
 * (`SpatialTransformer`, `BasicTransformerBlock`, `CrossAttention`, `FeedForward` with `GEGLU`),
 * NHWC, under the official state_dict names:
 *   norm (GroupNorm 32, eps 1e-6), proj_in (1x1 conv, or Linear with use_linear_in_transformer),
 *   transformer_blocks.i.{attn1, attn2}.{to_q, to_k, to_v, to_out.0}, .ff.net.0.proj, .ff.net.2,
 *   .norm1/2/3 (LayerNorm, eps 1e-5), proj_out.
 * Per block: x += attn1(norm1 x) (self), x += attn2(norm2 x, context) (cross), x += ff(norm3 x);
 * the feed-forward is GEGLU: a, g = proj(x).chunk(2); a * gelu(g) with exact (erf) GELU.
 * Without a context (context_dim unset) attn2 attends to x itself, as the official code does.
 */
import * as tf from '@tensorflow/tfjs';
import { geluErf, GroupNorm, LayerNorm, Linear } from './layers.js';
import { ChannelProjection, matMulBoth } from './unet-attention.js';
import type { WeightStore } from './weights.js';

export interface SpatialTransformerOptions {
  channels: number;
  heads: number;
  headChannels: number;
  depth: number;
  /** Width of the context tokens; null = attend to the image tokens (no context). */
  contextDim: number | null;
  /** proj_in / proj_out as Linear on tokens (SD 2.x) instead of 1x1 convolutions. */
  useLinear: boolean;
}

/** CrossAttention: keys to_q, to_k, to_v (no bias), to_out.0. x [B, T, D], context [B, S, Dc]. */
class CrossAttention {
  private readonly toQ: Linear;
  private readonly toK: Linear;
  private readonly toV: Linear;
  private readonly toOut: Linear;

  constructor(
    store: WeightStore,
    prefix: string,
    dim: number,
    contextDim: number,
    private readonly heads: number,
    private readonly headChannels: number,
  ) {
    const inner = heads * headChannels;
    this.toQ = new Linear(store, `${prefix}.to_q`, dim, inner, false);
    this.toK = new Linear(store, `${prefix}.to_k`, contextDim, inner, false);
    this.toV = new Linear(store, `${prefix}.to_v`, contextDim, inner, false);
    this.toOut = new Linear(store, `${prefix}.to_out.0`, inner, dim);
  }

  apply(x: tf.Tensor3D, context: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = x.shape;
      const s = context.shape[1];
      const { heads, headChannels: d } = this;
      // 'b n (h d) -> (b h) n d', as contiguous per-(b, h) items for rank-2 matMuls.
      const items = (v: tf.Tensor3D, n: number, perm: number[]) =>
        tf.unstack(
          tf.reshape(tf.transpose(tf.reshape(v, [b, n, heads, d]), perm), [
            b * heads,
            ...(perm[2] === 3 ? [d, n] : [n, d]),
          ]),
        );
      const qs = items(this.toQ.apply(x), t, [0, 2, 1, 3]);
      const kTs = items(this.toK.apply(context), s, [0, 2, 3, 1]);
      const vs = items(this.toV.apply(context), s, [0, 2, 1, 3]);
      const scale = d ** -0.5;
      const outs = qs.map((q, i) => {
        const sim = tf.mul(matMulBoth(q as tf.Tensor2D, kTs[i] as tf.Tensor2D), scale);
        return matMulBoth(tf.softmax(sim) as tf.Tensor2D, vs[i] as tf.Tensor2D);
      });
      const merged = tf.reshape(tf.transpose(tf.reshape(tf.stack(outs), [b, heads, t, d]), [0, 2, 1, 3]), [
        b,
        t,
        heads * d,
      ]);
      return this.toOut.apply(merged as tf.Tensor3D);
    });
  }
}

/** BasicTransformerBlock (gated feed-forward, mult 4). */
class BasicTransformerBlock {
  private readonly attn1: CrossAttention;
  private readonly attn2: CrossAttention;
  private readonly ffIn: Linear;
  private readonly ffOut: Linear;
  private readonly norms: [LayerNorm, LayerNorm, LayerNorm];
  private readonly inner: number;

  constructor(
    store: WeightStore,
    prefix: string,
    dim: number,
    heads: number,
    headChannels: number,
    contextDim: number | null,
  ) {
    this.attn1 = new CrossAttention(store, `${prefix}.attn1`, dim, dim, heads, headChannels);
    this.inner = 4 * dim;
    this.ffIn = new Linear(store, `${prefix}.ff.net.0.proj`, dim, 2 * this.inner);
    this.ffOut = new Linear(store, `${prefix}.ff.net.2`, this.inner, dim);
    this.attn2 = new CrossAttention(store, `${prefix}.attn2`, dim, contextDim ?? dim, heads, headChannels);
    this.norms = [1, 2, 3].map((i) => new LayerNorm(store, `${prefix}.norm${i}`, dim, 1e-5)) as [
      LayerNorm,
      LayerNorm,
      LayerNorm,
    ];
  }

  apply(x: tf.Tensor3D, context: tf.Tensor3D | undefined): tf.Tensor3D {
    return tf.tidy(() => {
      const [n1, n2, n3] = this.norms;
      const h1 = n1.apply(x);
      let h: tf.Tensor3D = tf.add(x, this.attn1.apply(h1, h1));
      const h2 = n2.apply(h);
      h = tf.add(h, this.attn2.apply(h2, context ?? h2));
      const [a, gate] = tf.split(this.ffIn.apply(n3.apply(h)), 2, 2);
      return tf.add(
        h,
        this.ffOut.apply(tf.mul(a as tf.Tensor3D, geluErf(gate as tf.Tensor3D))),
      ) as tf.Tensor3D;
    });
  }
}

export class SpatialTransformer {
  private readonly norm: GroupNorm;
  private readonly projIn: ChannelProjection;
  private readonly projOut: ChannelProjection;
  private readonly blocks: BasicTransformerBlock[] = [];
  private readonly inner: number;

  constructor(
    store: WeightStore,
    prefix: string,
    readonly o: SpatialTransformerOptions,
  ) {
    this.inner = o.heads * o.headChannels;
    const tail = o.useLinear ? [] : [1, 1];
    this.norm = new GroupNorm(store, `${prefix}.norm`, 32, o.channels, 1e-6);
    this.projIn = ChannelProjection.fromCheckpoint(store, `${prefix}.proj_in`, this.inner, o.channels, tail);
    for (let i = 0; i < o.depth; i++)
      this.blocks.push(
        new BasicTransformerBlock(
          store,
          `${prefix}.transformer_blocks.${i}`,
          this.inner,
          o.heads,
          o.headChannels,
          o.contextDim,
        ),
      );
    this.projOut = ChannelProjection.fromCheckpoint(
      store,
      `${prefix}.proj_out`,
      o.channels,
      this.inner,
      tail,
    );
  }

  /** x [B, H, W, C]; context [B, S, context_dim] (required exactly when context_dim is set). */
  apply(x: tf.Tensor4D, context?: tf.Tensor3D): tf.Tensor4D {
    if ((context !== undefined) !== (this.o.contextDim !== null))
      throw new Error(
        `SpatialTransformer: a context is needed exactly when context_dim is set (context_dim ${this.o.contextDim})`,
      );
    if (context && (context.shape[0] !== x.shape[0] || context.shape[2] !== this.o.contextDim))
      throw new Error(
        `SpatialTransformer: context ${JSON.stringify(context.shape)} does not fit batch ${x.shape[0]} and context_dim ${this.o.contextDim}`,
      );
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      // Both projections act per pixel, so conv 1x1 and Linear are the same map in NHWC.
      const tokens = this.projIn.apply(tf.reshape(this.norm.apply(x), [b * h * w, c]) as tf.Tensor2D);
      let seq = tf.reshape(tokens, [b, h * w, this.inner]) as tf.Tensor3D;
      for (const block of this.blocks) seq = block.apply(seq, context);
      const out = this.projOut.apply(tf.reshape(seq, [b * h * w, this.inner]) as tf.Tensor2D);
      return tf.add(x, tf.reshape(out, [b, h, w, c])) as tf.Tensor4D;
    });
  }
}
