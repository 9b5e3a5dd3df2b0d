/**
 * EDM's `DhariwalUNet` (NVlabs EDM `training/networks.py`, the ADM architecture as EDM re-implements
 * it), NHWC, loading EDM state_dicts unchanged: `map_noise` (no parameters), `map_augment`,
 * `map_layer0/1`, `map_label`, `enc.64x64_conv`, `enc.32x32_block0.*`, `dec.*`, `out_norm`,
 * `out_conv`, including the `resample_filter` buffers of the resampling convolutions.
 *
 * Raw network F: (x [B, H, W, C], noise labels [B], class labels, augment labels?) -> [B, H, W, C].
 * EDM's preconditioning (EDMPrecond: D = c_skip x + c_out F(c_in x, ln(sigma)/4), sigma_data 0.5)
 * is not part of this class: the Denoiser wrapper applies it (see denoiser.ts,
 * schedules/edm.ts `edmPreconditioning`).
 *
 * Ignored at inference: dropout, label_dropout. `channels_per_head` is not an official argument:
 * EDM hard-codes 64; it exists so that small test networks have attention heads.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '../checkpoint/types.js';
import { Conv2d, GroupNorm, Linear, silu } from './layers.js';
import { EDMUNetBlock, edmNorm, type EDMUNetBlockOptions } from './unet-blocks.js';
import { buildFromCheckpoint, WeightStore } from './weights.js';

/** DhariwalUNet's constructor arguments under their official names; defaults as in EDM. */
export interface DhariwalUNetConfig {
  img_resolution: number;
  in_channels: number;
  out_channels: number;
  /** Number of classes, 0 = unconditional (default 0). */
  label_dim?: number;
  /** Augmentation label dimension, 0 = none (default 0). */
  augment_dim?: number;
  model_channels?: number;
  channel_mult?: readonly number[];
  channel_mult_emb?: number;
  num_blocks?: number;
  /** Pixel resolutions (not rates) with self-attention. */
  attn_resolutions?: readonly number[];
  dropout?: number;
  label_dropout?: number;
  /** Not an EDM argument (EDM fixes 64); heads per attention block = channels / channels_per_head. */
  channels_per_head?: number;
}

const KNOWN_KEYS = new Set<string>([
  'img_resolution',
  'in_channels',
  'out_channels',
  'label_dim',
  'augment_dim',
  'model_channels',
  'channel_mult',
  'channel_mult_emb',
  'num_blocks',
  'attn_resolutions',
  'dropout',
  'label_dropout',
  'channels_per_head',
]);

type EncoderStage = { kind: 'conv'; conv: Conv2d } | { kind: 'block'; block: EDMUNetBlock };
/** A decoder block; `concatSkip`: it takes the latest unused encoder output concatenated after x. */
type DecoderStage = { block: EDMUNetBlock; concatSkip: boolean };

export class DhariwalUNet {
  readonly config: DhariwalUNetConfig;
  readonly labelDim: number;
  readonly augmentDim: number;
  private readonly modelChannels: number;
  private readonly mapAugment: Linear | undefined;
  private readonly mapLayer0: Linear;
  private readonly mapLayer1: Linear;
  private readonly mapLabel: Linear | undefined;
  private readonly enc: EncoderStage[] = [];
  private readonly dec: DecoderStage[] = [];
  private readonly outNorm: GroupNorm;
  private readonly outConv: Conv2d;
  private ownedStore: WeightStore | undefined;

  /** Build from `store` under `prefix` (e.g. 'model.' for an EDMPrecond state_dict). */
  constructor(store: WeightStore, config: DhariwalUNetConfig, prefix = '') {
    const unknown = Object.keys(config).filter((k) => !KNOWN_KEYS.has(k));
    if (unknown.length) throw new Error(`DhariwalUNet: unknown config keys ${unknown.join(', ')}`);
    this.config = config;
    const p = prefix;
    const mc = config.model_channels ?? 192;
    const mult = config.channel_mult ?? [1, 2, 3, 4];
    const embCh = mc * (config.channel_mult_emb ?? 4);
    const numBlocks = config.num_blocks ?? 3;
    const attnRes = new Set(config.attn_resolutions ?? [32, 16, 8]);
    const cph = config.channels_per_head ?? 64;
    this.modelChannels = mc;
    this.labelDim = config.label_dim ?? 0;
    this.augmentDim = config.augment_dim ?? 0;
    if (mc % 2 !== 0) throw new Error('DhariwalUNet: model_channels must be even (sin/cos noise embedding)');

    if (this.augmentDim) this.mapAugment = new Linear(store, `${p}map_augment`, this.augmentDim, mc, false);
    this.mapLayer0 = new Linear(store, `${p}map_layer0`, mc, embCh);
    this.mapLayer1 = new Linear(store, `${p}map_layer1`, embCh, embCh);
    if (this.labelDim) this.mapLabel = new Linear(store, `${p}map_label`, this.labelDim, embCh, false);

    const block = (
      name: string,
      cin: number,
      cout: number,
      extra: Pick<EDMUNetBlockOptions, 'resample' | 'attention'> = {},
    ) =>
      new EDMUNetBlock(store, name, {
        inChannels: cin,
        outChannels: cout,
        embChannels: embCh,
        channelsPerHead: cph,
        ...extra,
      });

    // Encoder: the channel count of every stage's output is a skip for the decoder.
    let cout = config.in_channels;
    const skips: number[] = [];
    mult.forEach((m, level) => {
      const res = config.img_resolution >> level;
      if (level === 0) {
        const cin = cout;
        cout = mc * m;
        this.enc.push({
          kind: 'conv',
          conv: new Conv2d(store, `${p}enc.${res}x${res}_conv`, cin, cout, 3, { padding: 1 }),
        });
      } else {
        this.enc.push({
          kind: 'block',
          block: block(`${p}enc.${res}x${res}_down`, cout, cout, { resample: 'down' }),
        });
      }
      skips.push(cout);
      for (let idx = 0; idx < numBlocks; idx++) {
        const cin = cout;
        cout = mc * m;
        const b = block(`${p}enc.${res}x${res}_block${idx}`, cin, cout, { attention: attnRes.has(res) });
        this.enc.push({ kind: 'block', block: b });
        skips.push(cout);
      }
    });

    // Decoder: each `block<idx>` takes the latest unused encoder output concatenated after x.
    for (let level = mult.length - 1; level >= 0; level--) {
      const m = mult[level] as number;
      const res = config.img_resolution >> level;
      const name = `${p}dec.${res}x${res}`;
      if (level === mult.length - 1) {
        this.dec.push({ block: block(`${name}_in0`, cout, cout, { attention: true }), concatSkip: false });
        this.dec.push({ block: block(`${name}_in1`, cout, cout), concatSkip: false });
      } else {
        this.dec.push({ block: block(`${name}_up`, cout, cout, { resample: 'up' }), concatSkip: false });
      }
      for (let idx = 0; idx <= numBlocks; idx++) {
        const cin = cout + (skips.pop() as number);
        cout = mc * m;
        const b = block(`${name}_block${idx}`, cin, cout, { attention: attnRes.has(res) });
        this.dec.push({ block: b, concatSkip: true });
      }
    }
    this.outNorm = edmNorm(store, `${p}out_norm`, cout);
    this.outConv = new Conv2d(store, `${p}out_conv`, cout, config.out_channels, 3, { padding: 1 });
  }

  /**
   * Build from a checkpoint and check its key set (WeightError lists every mismatch). Owns its
   * parameters. An EDMPrecond state_dict (EDM's network pickles) holds the UNet under `model.`:
   * pass `{ prefix: 'model.' }`.
   */
  static load(
    tensors: TensorMap,
    config: DhariwalUNetConfig,
    options: { prefix?: string; ignore?: RegExp[] } = {},
  ): DhariwalUNet {
    const { net, store } = buildFromCheckpoint(
      'DhariwalUNet',
      tensors,
      (s) => new DhariwalUNet(s, config, options.prefix ?? ''),
      options.ignore ?? [],
    );
    net.ownedStore = store;
    return net;
  }

  /**
   * EDM PositionalEmbedding (endpoint=False, max_positions 10000): freqs_i = (1/10000)^(i/half),
   * formed in float32 as EDM does; output [cos(x freqs), sin(x freqs)].
   */
  private noiseEmbedding(noiseLabels: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      const half = this.modelChannels / 2;
      const base = Math.fround(1 / 10000);
      const freqs = new Float32Array(half);
      for (let i = 0; i < half; i++) freqs[i] = Math.pow(base, Math.fround(i / half));
      const args = tf.mul(
        tf.reshape(tf.cast(noiseLabels, 'float32'), [-1, 1]),
        tf.tensor2d(freqs, [1, half]),
      );
      return tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D;
    });
  }

  /**
   * x [B, H, W, in_channels]; noiseLabels [B] (c_noise = ln(sigma)/4 under EDMPrecond);
   * classLabels [B, label_dim] (one-hot or soft; omitted = zeros, EDMPrecond's unconditional input);
   * augmentLabels [B, augment_dim], omitted = no augmentation term (as in EDM).
   */
  forward(
    x: tf.Tensor4D,
    noiseLabels: tf.Tensor1D,
    classLabels?: tf.Tensor2D,
    augmentLabels?: tf.Tensor2D,
  ): tf.Tensor4D {
    if (x.shape[3] !== this.config.in_channels) {
      throw new Error(`DhariwalUNet: expected ${this.config.in_channels} input channels, got ${x.shape[3]}`);
    }
    const factor = 2 ** ((this.config.channel_mult ?? [1, 2, 3, 4]).length - 1);
    if (x.shape[1] % factor !== 0 || x.shape[2] % factor !== 0) {
      throw new Error(
        `DhariwalUNet: input ${x.shape[1]}x${x.shape[2]} is not divisible by ${factor} (the total downsampling)`,
      );
    }
    if (classLabels && classLabels.shape[1] !== this.labelDim) {
      throw new Error(
        `DhariwalUNet: class labels need ${this.labelDim} columns, got ${classLabels.shape[1]}`,
      );
    }
    return tf.tidy(() => {
      let emb: tf.Tensor2D = this.noiseEmbedding(noiseLabels);
      if (this.mapAugment && augmentLabels) emb = tf.add(emb, this.mapAugment.apply(augmentLabels));
      emb = this.mapLayer1.apply(silu(this.mapLayer0.apply(emb)));
      if (this.mapLabel && classLabels) emb = tf.add(emb, this.mapLabel.apply(classLabels));
      emb = silu(emb);

      const skips: tf.Tensor4D[] = [];
      let h = x;
      for (const s of this.enc) {
        h = s.kind === 'conv' ? s.conv.apply(h) : s.block.apply(h, emb);
        skips.push(h);
      }
      for (const s of this.dec) {
        if (s.concatSkip) h = tf.concat([h, skips.pop() as tf.Tensor4D], 3);
        h = s.block.apply(h, emb);
      }
      return this.outConv.apply(this.outNorm.applySilu(h));
    });
  }

  /**
   * The network with class indices [B] instead of one-hot rows, the form the Denoiser passes:
   * index i becomes the one-hot row e_i, and index label_dim (the null class) a zero row.
   */
  asRawNetwork(): (x: tf.Tensor4D, noiseLabels: tf.Tensor1D, labels?: tf.Tensor1D) => tf.Tensor4D {
    return (x, noiseLabels, labels) =>
      tf.tidy(() => {
        if (!this.labelDim || labels === undefined) return this.forward(x, noiseLabels);
        // Built on the JS side so that the null class does not depend on a backend's handling of
        // out-of-range tf.oneHot indices.
        const ids = labels.dataSync();
        const rows = new Float32Array(ids.length * this.labelDim);
        ids.forEach((id, i) => {
          if (!Number.isInteger(id) || id < 0 || id > this.labelDim) {
            throw new Error(
              `DhariwalUNet: class label ${id} outside [0, ${this.labelDim}] (${this.labelDim} = none)`,
            );
          }
          if (id < this.labelDim) rows[i * this.labelDim + id] = 1;
        });
        return this.forward(x, noiseLabels, tf.tensor2d(rows, [ids.length, this.labelDim]));
      });
  }

  /** Free the parameters (only when this network owns its store, i.e. was made by `load`). */
  dispose(): void {
    this.ownedStore?.dispose();
    this.ownedStore = undefined;
  }
}
