/**
 * What every inverse-problem solver works against: a diffusion prior in its own space (pixels,
 * or an autoencoder's latents) plus the map from that space to images. For a pixel prior
 * `decode`/`encode` are the identity; for an LDM they are the autoencoder's decoder and encoder
 * (with the LDM scale factor applied), both differentiable so that likelihood gradients can flow
 * through the decoder (VIPaint, DPS) and the encoder (PSLD's gluing term).
 */
import * as tf from '@tensorflow/tfjs';
import type { Denoiser } from '../networks/denoiser.js';

export interface DiffusionPrior {
  /** The denoiser in the prior's own space (already class-guided if the user asked for guidance). */
  readonly denoiser: Denoiser;
  readonly space: 'pixel' | 'latent';
  /** H, W, C of one image in [-1, 1]. */
  readonly imageShape: [number, number, number];
  /** H, W, C of one sample in the diffusion's space (equal to imageShape for pixel priors). */
  readonly latentShape: [number, number, number];
  /** Diffusion space -> images in [-1, 1]. Differentiable. Identity for pixel priors. */
  decode(z: tf.Tensor4D): tf.Tensor4D;
  /** Images -> diffusion space (encoder mean, scaled). Differentiable. Identity for pixel priors. */
  encode(x: tf.Tensor4D): tf.Tensor4D;
}

/** Counts of network evaluations, so methods can be compared at equal cost. */
export interface CallCounts {
  /** Denoiser calls without a gradient through them. */
  forward: number;
  /** Denoiser calls that are differentiated through (forward + backward). */
  gradient: number;
}

export type CallReporter = (kind: keyof CallCounts, n?: number) => void;

/** A pixel-space prior: decode and encode are the identity. */
export function pixelPrior(denoiser: Denoiser): DiffusionPrior {
  return {
    denoiser,
    space: 'pixel',
    imageShape: denoiser.dataShape,
    latentShape: denoiser.dataShape,
    decode: (z) => tf.clone(z),
    encode: (x) => tf.clone(x),
  };
}
