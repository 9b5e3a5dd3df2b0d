/**
 * The convolutional Encoder and Decoder shared by the CompVis first-stage models (AutoencoderKL and
 * VQModel), following ldm/modules/diffusionmodules/model.py of CompVis/latent-diffusion: the same
 * module tree, hence the same state_dict keys (`encoder.down.0.block.1.norm1.weight`, ...), and the
 * same arithmetic, on NHWC tensors.
 *
 * Config mapping (official `ddconfig` YAML key -> DDConfig field): ch -> ch, out_ch -> outCh,
 * ch_mult -> chMult, num_res_blocks -> numResBlocks, attn_resolutions -> attnResolutions,
 * in_channels -> inChannels, resolution -> resolution, z_channels -> zChannels,
 * double_z -> doubleZ, dropout -> dropout (inference: identity), resamp_with_conv ->
 * resampWithConv, give_pre_end -> givePreEnd, tanh_out -> tanhOut, attn_type -> attnType
 * ('vanilla' | 'none'; 'linear' is not supported). `ddConfigFromOfficial` converts a parsed YAML map.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightStore } from './weights.js';
import { Conv2d, GroupNorm, attention, avgPool2x, checkpointed, upsampleNearest2x } from './layers.js';

export interface DDConfig {
  ch: number;
  outCh: number;
  chMult: number[];
  numResBlocks: number;
  attnResolutions: number[];
  inChannels: number;
  resolution: number;
  zChannels: number;
  /** Encoder emits 2 * zChannels (mean and log-variance). Default true, as in the official Encoder. */
  doubleZ?: boolean;
  /** Training-only; ignored at inference (nn.Dropout is the identity in eval mode). */
  dropout?: number;
  /** Strided conv / conv after upsampling (default true); false: average pooling / plain upsampling. */
  resampWithConv?: boolean;
  /** Decoder returns the features before norm_out/conv_out. Default false. */
  givePreEnd?: boolean;
  /** Decoder applies tanh to its output. Default false. */
  tanhOut?: boolean;
  /** 'vanilla' (default) or 'none'. */
  attnType?: 'vanilla' | 'none';
  /**
   * Not an official field: recompute each ResnetBlock / AttnBlock / Upsample during backprop
   * instead of keeping its intermediates (layers.checkpointed): same values, one extra forward
   * per input gradient, peak memory of one block instead of the network. 'auto' (default):
   * decided per call and block by the size of the block's input, checkpointing only inputs of
   * more than CHECKPOINT_MIN_BYTES (see there).
   */
  gradientCheckpointing?: boolean | 'auto';
}

/** Map the official snake_case `ddconfig` (as parsed from a CompVis YAML) to DDConfig. */
export function ddConfigFromOfficial(dd: Record<string, unknown>): DDConfig {
  const num = (k: string): number => {
    const v = dd[k];
    if (typeof v !== 'number') throw new Error(`ddconfig.${k}: expected a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const nums = (k: string): number[] => {
    const v = dd[k];
    if (!Array.isArray(v) || !v.every((e) => typeof e === 'number')) {
      throw new Error(`ddconfig.${k}: expected a list of numbers, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  };
  const bool = (k: string, dflt: boolean): boolean => {
    const v = dd[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean')
      throw new Error(`ddconfig.${k}: expected a boolean, got ${JSON.stringify(v)}`);
    return v;
  };
  const attnType = dd['attn_type'] ?? (dd['use_linear_attn'] === true ? 'linear' : 'vanilla');
  if (attnType !== 'vanilla' && attnType !== 'none') {
    throw new Error(`ddconfig.attn_type '${String(attnType)}' is not supported (vanilla, none)`);
  }
  return {
    ch: num('ch'),
    outCh: num('out_ch'),
    chMult: nums('ch_mult'),
    numResBlocks: num('num_res_blocks'),
    attnResolutions: nums('attn_resolutions'),
    inChannels: num('in_channels'),
    resolution: num('resolution'),
    zChannels: num('z_channels'),
    doubleZ: bool('double_z', true),
    dropout: typeof dd['dropout'] === 'number' ? dd['dropout'] : 0,
    resampWithConv: bool('resamp_with_conv', true),
    givePreEnd: bool('give_pre_end', false),
    tanhOut: bool('tanh_out', false),
    attnType,
  };
}

/** CompVis `Normalize`: GroupNorm with 32 groups, eps 1e-6, affine. */
function normalize(store: WeightStore, prefix: string, channels: number): GroupNorm {
  return new GroupNorm(store, prefix, 32, channels, 1e-6);
}

/** Residual block without timestep embedding (temb_channels = 0 in the autoencoders). */
export class ResnetBlock {
  private readonly norm1: GroupNorm;
  private readonly conv1: Conv2d;
  private readonly norm2: GroupNorm;
  private readonly conv2: Conv2d;
  private readonly shortcut: Conv2d | undefined;

  constructor(store: WeightStore, prefix: string, inCh: number, outCh: number) {
    this.norm1 = normalize(store, `${prefix}.norm1`, inCh);
    this.conv1 = new Conv2d(store, `${prefix}.conv1`, inCh, outCh, 3, { padding: 1 });
    this.norm2 = normalize(store, `${prefix}.norm2`, outCh);
    this.conv2 = new Conv2d(store, `${prefix}.conv2`, outCh, outCh, 3, { padding: 1 });
    // conv_shortcut=False everywhere in Encoder/Decoder: a 1x1 "nin_shortcut" when channels change.
    this.shortcut = inCh !== outCh ? new Conv2d(store, `${prefix}.nin_shortcut`, inCh, outCh, 1) : undefined;
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.conv1.apply(this.norm1.applySilu(x));
      h = this.conv2.apply(this.norm2.applySilu(h));
      const skip = this.shortcut ? this.shortcut.apply(x) : x;
      return tf.add(skip, h);
    });
  }
}

/** Single-head spatial self-attention over all H*W positions, scale C^-1/2, with a residual. */
export class AttnBlock {
  private readonly norm: GroupNorm;
  private readonly q: Conv2d;
  private readonly k: Conv2d;
  private readonly v: Conv2d;
  private readonly projOut: Conv2d;

  constructor(
    store: WeightStore,
    prefix: string,
    private readonly channels: number,
  ) {
    this.norm = normalize(store, `${prefix}.norm`, channels);
    this.q = new Conv2d(store, `${prefix}.q`, channels, channels, 1);
    this.k = new Conv2d(store, `${prefix}.k`, channels, channels, 1);
    this.v = new Conv2d(store, `${prefix}.v`, channels, channels, 1);
    this.projOut = new Conv2d(store, `${prefix}.proj_out`, channels, channels, 1);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const hn = this.norm.apply(x);
      const flat = (t: tf.Tensor4D): tf.Tensor3D => tf.reshape(t, [b, h * w, c]);
      const q = flat(this.q.apply(hn));
      const k = flat(this.k.apply(hn));
      const v = flat(this.v.apply(hn));
      const attended = attention(q, k, v, 1 / Math.sqrt(this.channels));
      return tf.add(x, this.projOut.apply(tf.reshape(attended, [b, h, w, c])));
    });
  }
}

type Block = { apply(x: tf.Tensor4D): tf.Tensor4D };
type Checkpointing = boolean | 'auto';

/**
 * Under 'auto', blocks whose input is at most this size keep their intermediates for backprop
 * (no recomputation). A block keeps about 8 maps of its input's size (norm and SiLU inputs, padded
 * conv inputs, attention maps), and a decoder has ~15 blocks, so this bounds the kept memory near
 * 0.5 GiB of the 4 GiB wasm heap. The embedded fashion-ldm decoder at batch 4 has block inputs of
 * at most 0.5 MiB (4x32x32x32 floats): it never recomputes (its recomputation was 18 % of a
 * VIPaint step). An SD-size decoder (128-512 channels at 64-512 pixels) checkpoints its large
 * levels, as before.
 */
export const CHECKPOINT_MIN_BYTES = 4 * 2 ** 20;

/** The block itself, or a wrapper that recomputes it during backprop (see DDConfig.gradientCheckpointing). */
function maybeCheckpointed(block: Block, mode: Checkpointing): Block {
  if (mode === false) return block;
  const recomputed = checkpointed((x) => block.apply(x));
  if (mode === true) return { apply: recomputed };
  return { apply: (x) => (4 * x.size > CHECKPOINT_MIN_BYTES ? recomputed(x) : block.apply(x)) };
}

function makeAttn(
  store: WeightStore,
  prefix: string,
  channels: number,
  type: 'vanilla' | 'none',
  ckpt: Checkpointing,
): Block {
  return type === 'none'
    ? { apply: (x) => x }
    : maybeCheckpointed(new AttnBlock(store, prefix, channels), ckpt);
}

/** Downsample: zero-pad right/bottom by one then 3x3 stride-2 conv (or 2x2 average pooling). */
class Downsample {
  private readonly conv: Conv2d | undefined;
  constructor(store: WeightStore, prefix: string, channels: number, withConv: boolean) {
    this.conv = withConv
      ? new Conv2d(store, `${prefix}.conv`, channels, channels, 3, { stride: 2, padding: [0, 1, 0, 1] })
      : undefined;
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.conv ? this.conv.apply(x) : avgPool2x(x);
  }
}

/** Upsample: nearest 2x, then (optionally) a 3x3 conv. */
class Upsample {
  private readonly conv: Conv2d | undefined;
  constructor(store: WeightStore, prefix: string, channels: number, withConv: boolean) {
    this.conv = withConv
      ? new Conv2d(store, `${prefix}.conv`, channels, channels, 3, { padding: 1 })
      : undefined;
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const up = upsampleNearest2x(x);
      return this.conv ? this.conv.apply(up) : up;
    });
  }
}

interface Level {
  blocks: Block[];
  attn: Block[];
  resample: Block | undefined;
}

/** Apply the mid section shared by Encoder and Decoder: block_1, attn_1, block_2. */
class Mid {
  private readonly block1: Block;
  private readonly attn1: Block;
  private readonly block2: Block;
  constructor(
    store: WeightStore,
    prefix: string,
    channels: number,
    attnType: 'vanilla' | 'none',
    ckpt: Checkpointing,
  ) {
    this.block1 = maybeCheckpointed(new ResnetBlock(store, `${prefix}.block_1`, channels, channels), ckpt);
    this.attn1 = makeAttn(store, `${prefix}.attn_1`, channels, attnType, ckpt);
    this.block2 = maybeCheckpointed(new ResnetBlock(store, `${prefix}.block_2`, channels, channels), ckpt);
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.block2.apply(this.attn1.apply(this.block1.apply(x))));
  }
}

function runLevel(level: Level, x: tf.Tensor4D): tf.Tensor4D {
  let h = x;
  level.blocks.forEach((block, i) => {
    h = block.apply(h);
    const attn = level.attn[i];
    if (attn) h = attn.apply(h);
  });
  return level.resample ? level.resample.apply(h) : h;
}

/** x [N, H, W, inChannels] -> [N, H / 2^(L-1), W / 2^(L-1), (doubleZ ? 2 : 1) * zChannels]. */
export class Encoder {
  private readonly convIn: Conv2d;
  private readonly levels: Level[] = [];
  private readonly mid: Mid;
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;

  constructor(store: WeightStore, prefix: string, cfg: DDConfig) {
    const { ch, chMult, numResBlocks } = cfg;
    const attnType = cfg.attnType ?? 'vanilla';
    const withConv = cfg.resampWithConv ?? true;
    const ckpt = cfg.gradientCheckpointing ?? 'auto';
    this.convIn = new Conv2d(store, `${prefix}.conv_in`, cfg.inChannels, ch, 3, { padding: 1 });
    let res = cfg.resolution;
    const inMult = [1, ...chMult];
    let blockIn = ch;
    chMult.forEach((mult, i) => {
      const level: Level = { blocks: [], attn: [], resample: undefined };
      blockIn = ch * (inMult[i] as number);
      const blockOut = ch * mult;
      for (let j = 0; j < numResBlocks; j++) {
        const block = new ResnetBlock(store, `${prefix}.down.${i}.block.${j}`, blockIn, blockOut);
        level.blocks.push(maybeCheckpointed(block, ckpt));
        blockIn = blockOut;
        if (cfg.attnResolutions.includes(res)) {
          level.attn.push(makeAttn(store, `${prefix}.down.${i}.attn.${j}`, blockIn, attnType, ckpt));
        }
      }
      if (i !== chMult.length - 1) {
        level.resample = new Downsample(store, `${prefix}.down.${i}.downsample`, blockIn, withConv);
        res = Math.floor(res / 2);
      }
      this.levels.push(level);
    });
    this.mid = new Mid(store, `${prefix}.mid`, blockIn, attnType, ckpt);
    this.normOut = normalize(store, `${prefix}.norm_out`, blockIn);
    const zOut = (cfg.doubleZ ?? true) ? 2 * cfg.zChannels : cfg.zChannels;
    this.convOut = new Conv2d(store, `${prefix}.conv_out`, blockIn, zOut, 3, { padding: 1 });
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.convIn.apply(x);
      for (const level of this.levels) h = runLevel(level, h);
      h = this.mid.apply(h);
      return this.convOut.apply(this.normOut.applySilu(h));
    });
  }
}

/** z [N, h, w, zChannels] -> [N, h * 2^(L-1), w * 2^(L-1), outCh]. */
export class Decoder {
  private readonly convIn: Conv2d;
  private readonly mid: Mid;
  /** Indexed like the official `up` ModuleList: levels[0] is the highest resolution (run last). */
  private readonly levels: Level[] = [];
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;
  private readonly givePreEnd: boolean;
  private readonly tanhOut: boolean;

  constructor(store: WeightStore, prefix: string, cfg: DDConfig) {
    const { ch, chMult, numResBlocks } = cfg;
    const attnType = cfg.attnType ?? 'vanilla';
    const withConv = cfg.resampWithConv ?? true;
    const ckpt = cfg.gradientCheckpointing ?? 'auto';
    const nLevels = chMult.length;
    let blockIn = ch * (chMult[nLevels - 1] as number);
    let res = Math.floor(cfg.resolution / 2 ** (nLevels - 1));
    this.convIn = new Conv2d(store, `${prefix}.conv_in`, cfg.zChannels, blockIn, 3, { padding: 1 });
    this.mid = new Mid(store, `${prefix}.mid`, blockIn, attnType, ckpt);
    for (let i = nLevels - 1; i >= 0; i--) {
      const level: Level = { blocks: [], attn: [], resample: undefined };
      const blockOut = ch * (chMult[i] as number);
      for (let j = 0; j < numResBlocks + 1; j++) {
        const block = new ResnetBlock(store, `${prefix}.up.${i}.block.${j}`, blockIn, blockOut);
        level.blocks.push(maybeCheckpointed(block, ckpt));
        blockIn = blockOut;
        if (cfg.attnResolutions.includes(res)) {
          level.attn.push(makeAttn(store, `${prefix}.up.${i}.attn.${j}`, blockIn, attnType, ckpt));
        }
      }
      if (i !== 0) {
        level.resample = maybeCheckpointed(
          new Upsample(store, `${prefix}.up.${i}.upsample`, blockIn, withConv),
          ckpt,
        );
        res *= 2;
      }
      this.levels[i] = level;
    }
    this.normOut = normalize(store, `${prefix}.norm_out`, blockIn);
    this.convOut = new Conv2d(store, `${prefix}.conv_out`, blockIn, cfg.outCh, 3, { padding: 1 });
    this.givePreEnd = cfg.givePreEnd ?? false;
    this.tanhOut = cfg.tanhOut ?? false;
  }

  apply(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h = this.mid.apply(this.convIn.apply(z));
      for (let i = this.levels.length - 1; i >= 0; i--) h = runLevel(this.levels[i] as Level, h);
      if (this.givePreEnd) return h;
      h = this.convOut.apply(this.normOut.applySilu(h));
      return this.tanhOut ? tf.tanh(h) : h;
    });
  }
}
