/**
 * Blocks particular to the two diffusion UNets: CompVis/guided-diffusion `openaimodel.py`
 * (ResBlock, AttentionBlock, Downsample, Upsample) and NVlabs EDM `training/networks.py`
 * (UNetBlock with its resampling convolutions). All NHWC float32; parameters come from a
 * WeightStore under the official state_dict names relative to the `prefix` each block is given.
 * Dropout is an inference no-op and is left out.
 */
import * as tf from '@tensorflow/tfjs';
import { avgPool2x, Conv2d, GroupNorm, Linear, silu, upsampleNearest2x } from './layers.js';
import { ChannelProjection, QkvSelfAttention } from './unet-attention.js';
import type { WeightStore } from './weights.js';

/** A UNet stage that may read the (already mapped) embedding vector [B, E] and a cross-attention context [B, S, D]. */
export interface EmbeddedLayer {
  apply(x: tf.Tensor4D, emb: tf.Tensor2D, context?: tf.Tensor3D): tf.Tensor4D;
}

/** Wrap a layer that ignores the embedding (convolutions, attention, resampling). */
export function ignoringEmbedding(layer: { apply(x: tf.Tensor4D): tf.Tensor4D }): EmbeddedLayer {
  return { apply: (x) => layer.apply(x) };
}

/** Resample an NHWC map by 2x: nearest-neighbour up or 2x2 average down. */
export type Resample = 'up' | 'down' | 'none';

function resample(x: tf.Tensor4D, how: Resample): tf.Tensor4D {
  if (how === 'up') return upsampleNearest2x(x);
  if (how === 'down') return avgPool2x(x);
  return x;
}

// ---------------------------------------------------------------------------------------------
// openaimodel.py

/** openaimodel's `normalization(channels)`: GroupNorm32 with 32 groups and PyTorch's eps 1e-5. */
export function openaiNorm(store: WeightStore, prefix: string, channels: number): GroupNorm {
  return new GroupNorm(store, prefix, 32, channels, 1e-5);
}

export interface OpenAIResBlockOptions {
  channels: number;
  embChannels: number;
  outChannels: number;
  useScaleShiftNorm: boolean;
  /** 3x3 instead of 1x1 skip projection when the channel count changes (UNetModel never sets it). */
  useConv?: boolean;
  resample?: Resample;
}

/** openaimodel ResBlock: keys in_layers.{0,2}, emb_layers.1, out_layers.{0,3}, skip_connection. */
export class OpenAIResBlock implements EmbeddedLayer {
  private readonly inNorm: GroupNorm;
  private readonly inConv: Conv2d;
  private readonly embProj: Linear;
  private readonly outNorm: GroupNorm;
  private readonly outConv: Conv2d;
  private readonly skip: Conv2d | undefined;
  private readonly resample: Resample;
  private readonly outChannels: number;
  private readonly scaleShift: boolean;

  constructor(store: WeightStore, prefix: string, o: OpenAIResBlockOptions) {
    const { channels, outChannels } = o;
    this.outChannels = outChannels;
    this.scaleShift = o.useScaleShiftNorm;
    this.resample = o.resample ?? 'none';
    this.inNorm = openaiNorm(store, `${prefix}.in_layers.0`, channels);
    this.inConv = new Conv2d(store, `${prefix}.in_layers.2`, channels, outChannels, 3, { padding: 1 });
    const embOut = this.scaleShift ? 2 * outChannels : outChannels;
    this.embProj = new Linear(store, `${prefix}.emb_layers.1`, o.embChannels, embOut);
    this.outNorm = openaiNorm(store, `${prefix}.out_layers.0`, outChannels);
    this.outConv = new Conv2d(store, `${prefix}.out_layers.3`, outChannels, outChannels, 3, { padding: 1 });
    if (outChannels !== channels) {
      const k = o.useConv ? 3 : 1;
      this.skip = new Conv2d(store, `${prefix}.skip_connection`, channels, outChannels, k, {
        padding: o.useConv ? 1 : 0,
      });
    }
  }

  apply(x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      // With up/down the resampling sits between the activation and the first convolution, and
      // the skip path is resampled too.
      let h = resample(this.inNorm.applySilu(x), this.resample);
      const xs = resample(x, this.resample);
      h = this.inConv.apply(h);
      const e = this.embProj.apply(silu(emb));
      const e4 = tf.reshape(e, [e.shape[0], 1, 1, e.shape[1]]) as tf.Tensor4D;
      if (this.scaleShift) {
        const [scale, shift] = tf.split(e4, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
        h = tf.add(tf.mul(this.outNorm.apply(h), tf.add(scale, 1)), shift);
        h = this.outConv.apply(silu(h));
      } else {
        h = this.outConv.apply(this.outNorm.applySilu(tf.add(h, e4)));
      }
      return tf.add(this.skip ? this.skip.apply(xs) : xs, h);
    });
  }
}

/** openaimodel AttentionBlock: keys norm, qkv, proj_out (Conv1d weights [3C, C, 1], [C, C, 1]). */
export class OpenAIAttentionBlock {
  private readonly norm: GroupNorm;
  private readonly attn: QkvSelfAttention;
  private readonly proj: ChannelProjection;

  constructor(
    store: WeightStore,
    prefix: string,
    readonly channels: number,
    readonly heads: number,
    newAttentionOrder: boolean,
  ) {
    this.norm = openaiNorm(store, `${prefix}.norm`, channels);
    const layout = newAttentionOrder ? 'qkv-head-channel' : 'head-qkv-channel';
    this.attn = new QkvSelfAttention(store, `${prefix}.qkv`, channels, heads, layout, [1]);
    this.proj = ChannelProjection.fromCheckpoint(store, `${prefix}.proj_out`, channels, channels, [1]);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(x, projectChannels(this.proj, this.attn.apply(this.norm.apply(x)))));
  }
}

/** Apply a channel projection to every pixel of an NHWC map. */
function projectChannels(p: ChannelProjection, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const y = p.apply(tf.reshape(x, [n * h * w, c]) as tf.Tensor2D);
    return tf.reshape(y, [n, h, w, y.shape[1]]) as tf.Tensor4D;
  });
}

/** openaimodel Downsample: 3x3 stride-2 conv with padding 1 (key `op`), or 2x2 average pooling. */
export class OpenAIDownsample {
  private readonly op: Conv2d | undefined;

  constructor(store: WeightStore, prefix: string, channels: number, useConv: boolean) {
    if (useConv)
      this.op = new Conv2d(store, `${prefix}.op`, channels, channels, 3, { stride: 2, padding: 1 });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.op ? this.op.apply(x) : avgPool2x(x);
  }
}

/** openaimodel Upsample: nearest 2x, then optionally a 3x3 conv with padding 1 (key `conv`). */
export class OpenAIUpsample {
  private readonly conv: Conv2d | undefined;

  constructor(store: WeightStore, prefix: string, channels: number, useConv: boolean) {
    if (useConv) this.conv = new Conv2d(store, `${prefix}.conv`, channels, channels, 3, { padding: 1 });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const up = upsampleNearest2x(x);
      return this.conv ? this.conv.apply(up) : up;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// EDM training/networks.py

/** EDM GroupNorm: min(32, C / 4) groups (at least 4 channels per group), eps 1e-5. */
export function edmNorm(store: WeightStore, prefix: string, channels: number, eps = 1e-5): GroupNorm {
  return new GroupNorm(store, prefix, Math.min(32, Math.floor(channels / 4)), channels, eps);
}

/**
 * EDM keeps the resampling filter of an up/down convolution as a state_dict buffer
 * `<prefix>.resample_filter` [1, 1, 2, 2]. DhariwalUNet only uses the default [1, 1] filter, for
 * which EDM's per-channel transposed convolution (x4) is exactly nearest-neighbour 2x upsampling
 * and its stride-2 per-channel convolution exactly 2x2 average pooling; those are what run here
 * (tfjs-wasm has no gradient kernel for depthwise convolutions). The buffer is consumed when
 * present and anything but the [1, 1] filter is refused.
 */
function checkResampleFilter(store: WeightStore, prefix: string): void {
  const name = `${prefix}.resample_filter`;
  if (!store.has(name)) return;
  const f = store.raw(name, [1, 1, 2, 2]);
  if (!f) return; // mis-shaped: reported by the store's finish()
  const values = f.dataSync();
  if (values.some((v) => Math.abs(v - 0.25) > 1e-7)) {
    throw new Error(
      `${name}: only EDM's default [1, 1] resample filter is supported, got [${values.join(', ')}]`,
    );
  }
}

/** EDM Conv2d (non-fused): optional 2x resampling, then an optional k x k convolution with padding k/2. */
export class EDMConv2d {
  private readonly conv: Conv2d | undefined;

  constructor(
    store: WeightStore,
    prefix: string,
    inCh: number,
    outCh: number,
    kernel: number,
    private readonly resample: Resample = 'none',
  ) {
    if (resample !== 'none') checkResampleFilter(store, prefix);
    if (kernel > 0) {
      this.conv = new Conv2d(store, prefix, inCh, outCh, kernel, { padding: Math.floor(kernel / 2) });
    }
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const r = resample(x, this.resample);
      return this.conv ? this.conv.apply(r) : r;
    });
  }
}

export interface EDMUNetBlockOptions {
  inChannels: number;
  outChannels: number;
  embChannels: number;
  resample?: Resample;
  attention?: boolean;
  /** EDM's DhariwalUNet uses 64; heads = outChannels / channelsPerHead (0 heads = no attention). */
  channelsPerHead?: number;
}

/**
 * EDM UNetBlock as configured by DhariwalUNet (adaptive_scale, skip_scale 1, resample_proj off):
 * keys norm0, conv0, affine, norm1, conv1, skip, and with attention norm2, qkv, proj.
 */
export class EDMUNetBlock implements EmbeddedLayer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly heads: number;
  private readonly norm0: GroupNorm;
  private readonly conv0: EDMConv2d;
  private readonly affine: Linear;
  private readonly norm1: GroupNorm;
  private readonly conv1: EDMConv2d;
  private readonly skip: EDMConv2d | undefined;
  private readonly attn: { norm: GroupNorm; qkv: QkvSelfAttention; proj: ChannelProjection } | undefined;

  constructor(store: WeightStore, prefix: string, o: EDMUNetBlockOptions) {
    const { inChannels, outChannels } = o;
    const how = o.resample ?? 'none';
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    // As in EDM: attention with fewer channels than one head's width silently has no heads.
    this.heads = o.attention ? Math.floor(outChannels / (o.channelsPerHead ?? 64)) : 0;
    this.norm0 = edmNorm(store, `${prefix}.norm0`, inChannels);
    this.conv0 = new EDMConv2d(store, `${prefix}.conv0`, inChannels, outChannels, 3, how);
    this.affine = new Linear(store, `${prefix}.affine`, o.embChannels, 2 * outChannels);
    this.norm1 = edmNorm(store, `${prefix}.norm1`, outChannels);
    this.conv1 = new EDMConv2d(store, `${prefix}.conv1`, outChannels, outChannels, 3);
    if (outChannels !== inChannels || how !== 'none') {
      const kernel = outChannels !== inChannels ? 1 : 0;
      this.skip = new EDMConv2d(store, `${prefix}.skip`, inChannels, outChannels, kernel, how);
    }
    if (this.heads > 0) {
      this.attn = {
        norm: edmNorm(store, `${prefix}.norm2`, outChannels),
        qkv: new QkvSelfAttention(
          store,
          `${prefix}.qkv`,
          outChannels,
          this.heads,
          'head-channel-qkv',
          [1, 1],
        ),
        proj: ChannelProjection.fromCheckpoint(store, `${prefix}.proj`, outChannels, outChannels, [1, 1]),
      };
    }
  }

  apply(x: tf.Tensor4D, emb: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.conv0.apply(this.norm0.applySilu(x));
      const p = this.affine.apply(emb);
      const p4 = tf.reshape(p, [p.shape[0], 1, 1, p.shape[1]]) as tf.Tensor4D;
      const [scale, shift] = tf.split(p4, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      h = silu(tf.add(shift, tf.mul(this.norm1.apply(h), tf.add(scale, 1))));
      h = tf.add(this.conv1.apply(h), this.skip ? this.skip.apply(x) : x);
      if (this.attn) {
        const a = this.attn.qkv.apply(this.attn.norm.apply(h));
        h = tf.add(projectChannels(this.attn.proj, a), h);
      }
      return h;
    });
  }
}
