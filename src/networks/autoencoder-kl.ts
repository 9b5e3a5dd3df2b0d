/**
 * CompVis AutoencoderKL (ldm/models/autoencoder.py) for inference, NHWC:
 *   encode: moments = quant_conv(encoder(x)); mean, logvar = split(moments) along channels,
 *           logvar clamped to [-30, 20] (DiagonalGaussianDistribution);
 *   sample: z = mean + exp(logvar / 2) * eps; mode: z = mean;
 *   decode: decoder(post_quant_conv(z)).
 * State-dict keys: `encoder.*`, `decoder.*`, `quant_conv.{weight,bias}` [2E, 2Z, 1, 1],
 * `post_quant_conv.{weight,bias}` [Z, E, 1, 1] (E = embedDim, Z = zChannels). Training-only keys
 * (`loss.*`, e.g. the LPIPS / discriminator weights in full LDM checkpoints) should be passed as
 * `ignore` patterns to buildFromCheckpoint.
 *
 * The latent diffusion model works on z_ldm = scaleFactor * z (LatentDiffusion.scale_factor,
 * e.g. 0.18215 for the SD / f8 KL autoencoders): encodeScaled / decodeScaled apply it.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '../checkpoint/types.js';
import { Decoder, Encoder, type DDConfig } from './autoencoder-blocks.js';
import { Conv2d } from './layers.js';
import { WeightStore, buildFromCheckpoint } from './weights.js';

export interface AutoencoderKLConfig extends DDConfig {
  /** Latent channels E after quant_conv (official `embed_dim`). */
  embedDim: number;
  /** LDM `scale_factor`: z_ldm = scaleFactor * z. Default 1. */
  scaleFactor?: number;
}

export interface GaussianMoments {
  /** [N, h, w, embedDim] */
  mean: tf.Tensor4D;
  /** [N, h, w, embedDim], clamped to [-30, 20] */
  logvar: tf.Tensor4D;
}

export class AutoencoderKL {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  private readonly quantConv: Conv2d;
  private readonly postQuantConv: Conv2d;
  readonly scaleFactor: number;
  /** Spatial downsampling factor 2^(levels - 1). */
  readonly downFactor: number;

  /** Build from a WeightStore; call store.finish() afterwards (or use AutoencoderKL.fromCheckpoint). */
  constructor(
    private readonly store: WeightStore,
    readonly config: AutoencoderKLConfig,
  ) {
    if (config.doubleZ === false)
      throw new Error('AutoencoderKL needs doubleZ = true (mean and log-variance)');
    const { zChannels: z, embedDim: e } = config;
    this.encoder = new Encoder(store, 'encoder', config);
    this.decoder = new Decoder(store, 'decoder', config);
    this.quantConv = new Conv2d(store, 'quant_conv', 2 * z, 2 * e, 1);
    this.postQuantConv = new Conv2d(store, 'post_quant_conv', e, z, 1);
    this.scaleFactor = config.scaleFactor ?? 1;
    this.downFactor = 2 ** (config.chMult.length - 1);
  }

  /** Build and check a checkpoint in one go: any missing / mis-shaped / unexpected key throws a WeightError. */
  static fromCheckpoint(
    tensors: TensorMap,
    config: AutoencoderKLConfig,
    ignore: RegExp[] = [],
  ): AutoencoderKL {
    return buildFromCheckpoint('AutoencoderKL', tensors, (s) => new AutoencoderKL(s, config), ignore).net;
  }

  /** x [N, H, W, inChannels] (pixels in [-1, 1]) -> posterior moments. */
  encode(x: tf.Tensor4D): GaussianMoments {
    const moments = tf.tidy(() => this.quantConv.apply(this.encoder.apply(x)));
    const e = this.config.embedDim;
    const [mean, rawLogvar] = tf.split(moments, [e, e], 3) as [tf.Tensor4D, tf.Tensor4D];
    const logvar = tf.clipByValue(rawLogvar, -30, 20);
    tf.dispose([moments, rawLogvar]);
    return { mean, logvar };
  }

  /** Reparameterised sample mean + exp(logvar / 2) * eps (eps standard normal, same shape). */
  sampleLatent(mean: tf.Tensor4D, logvar: tf.Tensor4D, eps: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(mean, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps)));
  }

  /** z [N, h, w, embedDim] -> image [N, H, W, outCh]. */
  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.decoder.apply(this.postQuantConv.apply(z)));
  }

  /**
   * The LDM's latent for x: scaleFactor * (mean, or a sample when eps is given). The mode is the
   * usual choice for inverse problems (deterministic); LatentDiffusion itself samples.
   */
  encodeScaled(x: tf.Tensor4D, eps?: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const { mean, logvar } = this.encode(x);
      const z = eps ? this.sampleLatent(mean, logvar, eps) : mean;
      return tf.mul(z, this.scaleFactor);
    });
  }

  /** Image for an LDM latent: decode((1 / scaleFactor) * zLdm), as decode_first_stage computes it. */
  decodeScaled(zLdm: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.decode(tf.mul(zLdm, 1 / this.scaleFactor)));
  }

  /** Free all parameters. */
  dispose(): void {
    this.store.dispose();
  }
}
