/**
 * CompVis VQModel (ldm/models/autoencoder.py) with taming's VectorQuantizer2 (legacy beta; the beta
 * only weights the training loss, so it plays no part here), NHWC:
 *   encode: h = quant_conv(encoder(x)); index = argmin_j ||h - e_j||^2 per position, computed as
 *           |h|^2 + |e_j|^2 - 2 h.e_j like the original; quant = h + stopgrad(e_index - h)
 *           (straight-through: the gradient passes to h unchanged);
 *   decode: decoder(post_quant_conv(quant)); decodeIndices looks the codes up first.
 * State-dict keys: `encoder.*`, `decoder.*`, `quant_conv.*` [E, Z, 1, 1], `post_quant_conv.*`
 * [Z, E, 1, 1], `quantize.embedding.weight` [nEmbed, E].
 *
 * In a latent diffusion model the diffusion runs on the pre-quantisation h (encode_first_stage of
 * VQModelInterface) and decode_first_stage quantises before decoding unless told not to:
 * encodeScaled / decodeScaled reproduce that.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '../checkpoint/types.js';
import { Decoder, Encoder, type DDConfig } from './autoencoder-blocks.js';
import { Conv2d } from './layers.js';
import { WeightStore, buildFromCheckpoint } from './weights.js';

export interface VQModelConfig extends DDConfig {
  /** Codebook size (official `n_embed`). */
  nEmbed: number;
  /** Code dimension E (official `embed_dim`). */
  embedDim: number;
  /** LDM `scale_factor` (1 for the CompVis VQ-f4/f8 LDMs). Default 1. */
  scaleFactor?: number;
}

export interface VQEncoding {
  /** Pre-quantisation latent quant_conv(encoder(x)), [N, h, w, E]. */
  h: tf.Tensor4D;
  /** Quantised latent (straight-through in h), [N, h, w, E]. */
  quant: tf.Tensor4D;
  /** Codebook indices, int32 [N, h, w]. */
  indices: tf.Tensor3D;
}

export class VQModel {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  private readonly quantConv: Conv2d;
  private readonly postQuantConv: Conv2d;
  /** [nEmbed, E] */
  readonly codebook: tf.Tensor2D;
  readonly scaleFactor: number;
  readonly downFactor: number;

  constructor(
    private readonly store: WeightStore,
    readonly config: VQModelConfig,
  ) {
    if (config.doubleZ === true)
      throw new Error('VQModel needs doubleZ = false (the official VQ configs set it)');
    const dd: DDConfig = { ...config, doubleZ: false };
    const { zChannels: z, embedDim: e } = config;
    this.encoder = new Encoder(store, 'encoder', dd);
    this.decoder = new Decoder(store, 'decoder', dd);
    this.quantConv = new Conv2d(store, 'quant_conv', z, e, 1);
    this.postQuantConv = new Conv2d(store, 'post_quant_conv', e, z, 1);
    this.codebook = store.take('quantize.embedding.weight', [config.nEmbed, e]) as tf.Tensor2D;
    this.scaleFactor = config.scaleFactor ?? 1;
    this.downFactor = 2 ** (config.chMult.length - 1);
  }

  static fromCheckpoint(tensors: TensorMap, config: VQModelConfig, ignore: RegExp[] = []): VQModel {
    return buildFromCheckpoint('VQModel', tensors, (s) => new VQModel(s, config), ignore).net;
  }

  /** Pre-quantisation latent quant_conv(encoder(x)). */
  encodePrequant(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.quantConv.apply(this.encoder.apply(x)));
  }

  /** Nearest codebook entry per position of h [N, h, w, E]. */
  quantize(h: tf.Tensor4D): { quant: tf.Tensor4D; indices: tf.Tensor3D } {
    const indices = tf.tidy(() => {
      const [n, hh, ww, e] = h.shape;
      const flat = tf.reshape(h, [-1, e]) as tf.Tensor2D;
      const dist = tf.sub(
        tf.add(tf.sum(tf.square(flat), 1, true), tf.sum(tf.square(this.codebook), 1)),
        tf.mul(tf.matMul(flat, this.codebook, false, true), 2),
      );
      return tf.reshape(tf.argMin(dist, 1), [n, hh, ww]) as tf.Tensor3D;
    });
    // z + (z_q - z).detach(): the same forward arithmetic, an identity gradient to h, and the
    // codebook lookup kept off the gradient tape (the indices are integers).
    const straightThrough = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc) => {
      const hIn = input as tf.Tensor4D;
      const value = tf.tidy(() => tf.add(hIn, tf.sub(this.lookup(indices), hIn)) as tf.Tensor4D);
      return { value, gradFunc: (dy: tf.Tensor) => dy };
    }) as (x: tf.Tensor4D) => tf.Tensor4D;
    const quant = straightThrough(h);
    return { quant, indices };
  }

  encode(x: tf.Tensor4D): VQEncoding {
    const h = this.encodePrequant(x);
    const { quant, indices } = this.quantize(h);
    return { h, quant, indices };
  }

  /** Codebook vectors for int32 indices [N, h, w] -> [N, h, w, E]. */
  lookup(indices: tf.Tensor3D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n, hh, ww] = indices.shape;
      const rows = tf.gather(this.codebook, tf.reshape(indices, [-1]));
      return tf.reshape(rows, [n, hh, ww, this.config.embedDim]) as tf.Tensor4D;
    });
  }

  /** Quantised (or any) latent [N, h, w, E] -> image. */
  decode(quant: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.decoder.apply(this.postQuantConv.apply(quant)));
  }

  decodeIndices(indices: tf.Tensor3D): tf.Tensor4D {
    return tf.tidy(() => this.decode(this.lookup(indices)));
  }

  /** LDM latent: scaleFactor * pre-quantisation h. */
  encodeScaled(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.mul(this.encodePrequant(x), this.scaleFactor));
  }

  /**
   * Image for an LDM latent like decode_first_stage: quantise (straight-through) then decode, or
   * decode directly with forceNotQuantize.
   */
  decodeScaled(zLdm: tf.Tensor4D, forceNotQuantize = false): tf.Tensor4D {
    return tf.tidy(() => {
      const h = tf.mul(zLdm, 1 / this.scaleFactor) as tf.Tensor4D;
      if (forceNotQuantize) return this.decode(h);
      const { quant } = this.quantize(h);
      return this.decode(quant);
    });
  }

  dispose(): void {
    this.store.dispose();
  }
}
