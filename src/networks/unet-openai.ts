/**
 * The diffusion UNet of CompVis latent-diffusion `ldm/modules/diffusionmodules/openaimodel.py`
 * (`UNetModel`, itself guided-diffusion's), NHWC, loading official state_dicts unchanged
 * (`time_embed.0.weight`, `input_blocks.1.0.in_layers.0.weight`, `middle_block.1.qkv.weight`, ...).
 *
 * Raw network: (x [B, H, W, C], timesteps [B], labels [B]?) -> output [B, H, W, out_channels]; what
 * the output means (eps, x0, v) is the checkpoint's business and is set by the Denoiser wrapper.
 *
 * With `use_spatial_transformer` the attention layers are CompVis SpatialTransformers
 * (spatial-transformer.ts) attending to a context [B, S, context_dim] given to `forward` (cin256's
 * class embedding, Stable Diffusion's text embedding); `use_linear_in_transformer` (SD 2.x) selects
 * their Linear projections.
 *
 * Not supported, and refused with an error: codebook prediction (`n_embed`), and dims other than
 * 2. Ignored at inference: dropout, use_checkpoint, use_fp16 (everything runs float32, as
 * GroupNorm32 does anyway), legacy (head counts come out the same whenever they divide evenly).
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '../checkpoint/types.js';
import { Conv2d, GroupNorm, Linear, silu, timestepEmbedding } from './layers.js';
import {
  ignoringEmbedding,
  OpenAIAttentionBlock,
  OpenAIDownsample,
  OpenAIResBlock,
  OpenAIUpsample,
  openaiNorm,
  type EmbeddedLayer,
} from './unet-blocks.js';
import { buildFromCheckpoint, WeightStore } from './weights.js';
import { SpatialTransformer } from './spatial-transformer.js';

/** The official constructor arguments, under their official names (so LDM YAML `params` fit as-is). */
export interface OpenAIUNetConfig {
  image_size: number;
  in_channels: number;
  model_channels: number;
  out_channels: number;
  num_res_blocks: number;
  /** Downsampling rates (1, 2, 4, ...) at which attention is used, not pixel resolutions. */
  attention_resolutions: readonly number[];
  dropout?: number;
  channel_mult?: readonly number[];
  conv_resample?: boolean;
  dims?: number;
  num_classes?: number | null;
  use_checkpoint?: boolean;
  use_fp16?: boolean;
  num_heads?: number;
  num_head_channels?: number;
  num_heads_upsample?: number;
  use_scale_shift_norm?: boolean;
  resblock_updown?: boolean;
  use_new_attention_order?: boolean;
  use_spatial_transformer?: boolean;
  transformer_depth?: number;
  context_dim?: number | null;
  use_linear_in_transformer?: boolean;
  n_embed?: number | null;
  legacy?: boolean;
}

const KNOWN_KEYS = new Set<string>([
  'image_size',
  'in_channels',
  'model_channels',
  'out_channels',
  'num_res_blocks',
  'attention_resolutions',
  'dropout',
  'channel_mult',
  'conv_resample',
  'dims',
  'num_classes',
  'use_checkpoint',
  'use_fp16',
  'num_heads',
  'num_head_channels',
  'num_heads_upsample',
  'use_scale_shift_norm',
  'resblock_updown',
  'use_new_attention_order',
  'use_spatial_transformer',
  'transformer_depth',
  'context_dim',
  'use_linear_in_transformer',
  'n_embed',
  'legacy',
]);

/** Refuse what this port does not implement, with the reason, before any weight is read. */
function validate(c: OpenAIUNetConfig): void {
  const unknown = Object.keys(c).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length) throw new Error(`OpenAIUNet: unknown config keys ${unknown.join(', ')}`);
  const hasContext = c.context_dim !== undefined && c.context_dim !== null;
  if (Boolean(c.use_spatial_transformer) !== hasContext) {
    throw new Error(
      'OpenAIUNet: use_spatial_transformer and context_dim go together (as in the official UNetModel)',
    );
  }
  if (hasContext && !(Number.isInteger(c.context_dim) && (c.context_dim as number) > 0)) {
    throw new Error(
      `OpenAIUNet: context_dim must be a positive integer (lists of context dims are not supported), got ${JSON.stringify(c.context_dim)}`,
    );
  }
  if (c.n_embed !== undefined && c.n_embed !== null) {
    throw new Error('OpenAIUNet: n_embed (codebook-id prediction) is not supported');
  }
  if ((c.dims ?? 2) !== 2) throw new Error(`OpenAIUNet: only dims = 2 is supported, got ${c.dims}`);
  if ((c.num_heads ?? -1) === -1 && (c.num_head_channels ?? -1) === -1) {
    throw new Error('OpenAIUNet: either num_heads or num_head_channels has to be set');
  }
  for (const k of [
    'image_size',
    'in_channels',
    'model_channels',
    'out_channels',
    'num_res_blocks',
  ] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new Error(`OpenAIUNet: ${k} must be a positive integer`);
  }
}

export class OpenAIUNet {
  readonly config: OpenAIUNetConfig;
  private readonly timeEmbed0: Linear;
  private readonly timeEmbed2: Linear;
  private readonly labelEmb: tf.Tensor2D | undefined;
  private readonly inputBlocks: EmbeddedLayer[][] = [];
  private readonly middleBlock: EmbeddedLayer[];
  private readonly outputBlocks: EmbeddedLayer[][] = [];
  private readonly outNorm: GroupNorm;
  private readonly outConv: Conv2d;
  private ownedStore: WeightStore | undefined;

  /**
   * Build from `store` under `prefix` (e.g. 'model.diffusion_model.' for a full LDM checkpoint).
   * The store keeps the parameters; call `store.finish()` to check the key set (or use `load`).
   */
  constructor(store: WeightStore, config: OpenAIUNetConfig, prefix = '') {
    validate(config);
    this.config = config;
    const mc = config.model_channels;
    const mult = config.channel_mult ?? [1, 2, 4, 8];
    const attnAt = new Set(config.attention_resolutions);
    const numHeads = config.num_heads ?? -1;
    const headChannels = config.num_head_channels ?? -1;
    const headsUp =
      (config.num_heads_upsample ?? -1) === -1 ? numHeads : (config.num_heads_upsample as number);
    const scaleShift = config.use_scale_shift_norm ?? false;
    const updown = config.resblock_updown ?? false;
    const convResample = config.conv_resample ?? true;
    const newOrder = config.use_new_attention_order ?? false;
    const embDim = 4 * mc;
    const p = prefix;

    this.timeEmbed0 = new Linear(store, `${p}time_embed.0`, mc, embDim);
    this.timeEmbed2 = new Linear(store, `${p}time_embed.2`, embDim, embDim);
    const nc = config.num_classes;
    if (nc !== undefined && nc !== null)
      this.labelEmb = store.take(`${p}label_emb.weight`, [nc, embDim]) as tf.Tensor2D;

    const res = (name: string, cin: number, cout: number, resample: 'up' | 'down' | 'none' = 'none') =>
      new OpenAIResBlock(store, name, {
        channels: cin,
        embChannels: embDim,
        outChannels: cout,
        useScaleShiftNorm: scaleShift,
        resample,
      });
    // A set num_head_channels wins over the head count (official AttentionBlock behaviour).
    const attn = (name: string, ch: number, heads: number): EmbeddedLayer => {
      const h = headChannels === -1 ? heads : ch / headChannels;
      if (!Number.isInteger(h) || h <= 0)
        throw new Error(`${name}: ${ch} channels do not give a whole head count`);
      if (config.use_spatial_transformer) {
        // The official UNetModel gives the transformer num_heads (not num_heads_upsample) everywhere.
        const heads = headChannels === -1 ? numHeads : h;
        if (!Number.isInteger(ch / heads))
          throw new Error(`${name}: ${ch} channels do not split into ${heads} heads`);
        const st = new SpatialTransformer(store, name, {
          channels: ch,
          heads,
          headChannels: ch / heads,
          depth: config.transformer_depth ?? 1,
          contextDim: config.context_dim ?? null,
          useLinear: config.use_linear_in_transformer ?? false,
        });
        return { apply: (x, _emb, context) => st.apply(x, context) };
      }
      return ignoringEmbedding(new OpenAIAttentionBlock(store, name, ch, h, newOrder));
    };

    this.inputBlocks.push([
      ignoringEmbedding(new Conv2d(store, `${p}input_blocks.0.0`, config.in_channels, mc, 3, { padding: 1 })),
    ]);
    const skipChannels = [mc];
    let ch = mc;
    let ds = 1;
    mult.forEach((m, level) => {
      for (let i = 0; i < config.num_res_blocks; i++) {
        const name = `${p}input_blocks.${this.inputBlocks.length}`;
        const layers: EmbeddedLayer[] = [res(`${name}.0`, ch, m * mc)];
        ch = m * mc;
        if (attnAt.has(ds)) layers.push(attn(`${name}.1`, ch, numHeads));
        this.inputBlocks.push(layers);
        skipChannels.push(ch);
      }
      if (level !== mult.length - 1) {
        const name = `${p}input_blocks.${this.inputBlocks.length}.0`;
        this.inputBlocks.push([
          updown
            ? res(name, ch, ch, 'down')
            : ignoringEmbedding(new OpenAIDownsample(store, name, ch, convResample)),
        ]);
        skipChannels.push(ch);
        ds *= 2;
      }
    });

    this.middleBlock = [
      res(`${p}middle_block.0`, ch, ch),
      attn(`${p}middle_block.1`, ch, numHeads),
      res(`${p}middle_block.2`, ch, ch),
    ];

    for (let level = mult.length - 1; level >= 0; level--) {
      const m = mult[level] as number;
      for (let i = 0; i <= config.num_res_blocks; i++) {
        const name = `${p}output_blocks.${this.outputBlocks.length}`;
        const layers: EmbeddedLayer[] = [res(`${name}.0`, ch + (skipChannels.pop() as number), mc * m)];
        ch = mc * m;
        if (attnAt.has(ds)) layers.push(attn(`${name}.${layers.length}`, ch, headsUp));
        if (level > 0 && i === config.num_res_blocks) {
          const upName = `${name}.${layers.length}`;
          layers.push(
            updown
              ? res(upName, ch, ch, 'up')
              : ignoringEmbedding(new OpenAIUpsample(store, upName, ch, convResample)),
          );
          ds /= 2;
        }
        this.outputBlocks.push(layers);
      }
    }

    this.outNorm = openaiNorm(store, `${p}out.0`, ch);
    this.outConv = new Conv2d(store, `${p}out.2`, mc, config.out_channels, 3, { padding: 1 });
  }

  /**
   * Build from a checkpoint's tensors and check the key set in one go: any missing, mis-shaped or
   * unexpected key (not matched by `ignore`) raises a WeightError listing them all. The network
   * owns its parameters; free them with `dispose()`.
   *
   * A full LDM checkpoint holds the UNet under `model.diffusion_model.` beside the autoencoder,
   * EMA and schedule buffers: pass `{ prefix: OpenAIUNet.LDM_PREFIX, ignore: [/^(?!model\.diffusion_model\.)/] }`.
   */
  static readonly LDM_PREFIX = 'model.diffusion_model.';

  static load(
    tensors: TensorMap,
    config: OpenAIUNetConfig,
    options: { prefix?: string; ignore?: RegExp[] } = {},
  ): OpenAIUNet {
    const { net, store } = buildFromCheckpoint(
      'OpenAIUNet',
      tensors,
      (s) => new OpenAIUNet(s, config, options.prefix ?? ''),
      options.ignore ?? [],
    );
    net.ownedStore = store;
    return net;
  }

  /**
   * x [B, H, W, in_channels] (H, W divisible by 2^(levels-1)); timesteps [B] (may be fractional);
   * labels [B] integer class ids, required exactly when num_classes is set; context
   * [B, S, context_dim], required exactly when context_dim is set.
   */
  forward(
    x: tf.Tensor4D,
    timesteps: tf.Tensor1D | readonly number[],
    labels?: tf.Tensor1D | readonly number[],
    context?: tf.Tensor3D,
  ): tf.Tensor4D {
    const wantsContext = this.config.context_dim !== undefined && this.config.context_dim !== null;
    if ((context !== undefined) !== wantsContext) {
      throw new Error(
        'OpenAIUNet: pass a context if and only if the model has cross-attention (context_dim)',
      );
    }
    if ((labels !== undefined) !== (this.labelEmb !== undefined)) {
      throw new Error(
        'OpenAIUNet: pass class labels if and only if the model is class-conditional (num_classes)',
      );
    }
    if (x.shape[3] !== this.config.in_channels) {
      throw new Error(`OpenAIUNet: expected ${this.config.in_channels} input channels, got ${x.shape[3]}`);
    }
    const factor = 2 ** ((this.config.channel_mult ?? [1, 2, 4, 8]).length - 1);
    if (x.shape[1] % factor !== 0 || x.shape[2] % factor !== 0) {
      throw new Error(
        `OpenAIUNet: input ${x.shape[1]}x${x.shape[2]} is not divisible by ${factor} (the total downsampling)`,
      );
    }
    return tf.tidy(() => {
      const tEmb = timestepEmbedding(timesteps as tf.Tensor1D | number[], this.config.model_channels);
      let emb = this.timeEmbed2.apply(silu(this.timeEmbed0.apply(tEmb)));
      if (this.labelEmb && labels !== undefined) {
        emb = tf.add(emb, tf.gather(this.labelEmb, this.classIds(labels)));
      }
      const run = (layers: EmbeddedLayer[], h: tf.Tensor4D) =>
        layers.reduce((acc, l) => l.apply(acc, emb, context), h);
      const skips: tf.Tensor4D[] = [];
      let h = x;
      for (const block of this.inputBlocks) {
        h = run(block, h);
        skips.push(h);
      }
      h = run(this.middleBlock, h);
      for (const block of this.outputBlocks) {
        // torch.cat([h, skip], dim=1): the skip's channels come after h's.
        h = run(block, tf.concat([h, skips.pop() as tf.Tensor4D], 3));
      }
      return this.outConv.apply(this.outNorm.applySilu(h));
    });
  }

  /** Class ids as int32, checked against num_classes (tf.gather does not check, and backends differ). */
  private classIds(labels: tf.Tensor1D | readonly number[]): tf.Tensor1D {
    const values = Array.isArray(labels)
      ? (labels as number[])
      : Array.from((labels as tf.Tensor1D).dataSync());
    const n = this.config.num_classes as number;
    const bad = values.find((v) => !Number.isInteger(v) || v < 0 || v >= n);
    if (bad !== undefined) {
      throw new Error(
        `OpenAIUNet: class label ${bad} outside [0, ${n}) (label_emb has no null class for guidance)`,
      );
    }
    return tf.tensor1d(values, 'int32');
  }

  /** The network in the Denoiser's raw-network form (x, network times [B], class ids [B]?). */
  asRawNetwork(): (x: tf.Tensor4D, t: tf.Tensor1D, labels?: tf.Tensor1D) => tf.Tensor4D {
    return (x, t, labels) => this.forward(x, t, labels);
  }

  /** Free the parameters (only when this network owns its store, i.e. was made by `load`). */
  dispose(): void {
    this.ownedStore?.dispose();
    this.ownedStore = undefined;
  }
}
