/**
 * Test helper: data x ~ N(m, s^2) independently per element, for which the optimal denoiser is
 * known in closed form: with z = alpha x + sigma eps,
 *   E[x | z] = m + k (z - alpha m),  k = alpha s^2 / (alpha^2 s^2 + sigma^2).
 * Raw networks in every parameterization (and the EDM F) are built from it, so that samplers and
 * the Denoiser builder can be checked against exact float64 answers.
 */
import * as tf from '@tensorflow/tfjs';
import { edmPreconditioning } from '../../src/schedules/edm.js';
import type { NoiseLevel, NoiseSchedule } from '../../src/schedules/types.js';
import { makeDenoiser, type Denoiser, type RawNetwork } from '../../src/networks/denoiser.js';
import type { Parameterization } from '../../src/sampling/predictions.js';

export interface GaussianData {
  /** Per-element means of one sample, flattened HWC. */
  mean: number[];
  std: number;
  shape: [number, number, number];
}

/** float64 E[x | z] for one element. */
export function exactX0(d: GaussianData, j: number, z: number, level: NoiseLevel): number {
  const m = d.mean[j] as number;
  const k =
    (level.alpha * d.std * d.std) / (level.alpha * level.alpha * d.std * d.std + level.sigma * level.sigma);
  return m + k * (z - level.alpha * m);
}

/** The posterior mean as a tensor op; alpha and sigma are [B,1,1,1] tensors. */
function x0Tensor(d: GaussianData, z: tf.Tensor4D, alpha: tf.Tensor, sigma: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const m = tf.tensor4d(d.mean, [1, ...d.shape]);
    const s2 = d.std * d.std;
    const k = tf.div(tf.mul(alpha, s2), tf.add(tf.mul(tf.square(alpha), s2), tf.square(sigma)));
    return tf.add(m, tf.mul(k, tf.sub(z, tf.mul(alpha, m)))) as tf.Tensor4D;
  });
}

/** A raw network predicting `kind` exactly on a VP / VE schedule whose network time input is t itself. */
export function gaussianRawNet(
  d: GaussianData,
  schedule: NoiseSchedule,
  kind: Parameterization,
  timeOf = (tIn: number) => tIn,
): RawNetwork {
  return (z, tIn) =>
    tf.tidy(() => {
      const levels = Array.from(tIn.dataSync()).map((v) => schedule.level(timeOf(v)));
      const b = levels.length;
      const alpha = tf.tensor4d(
        levels.map((l) => l.alpha),
        [b, 1, 1, 1],
      );
      const sigma = tf.tensor4d(
        levels.map((l) => l.sigma),
        [b, 1, 1, 1],
      );
      const x0 = x0Tensor(d, z, alpha, sigma);
      if (kind === 'x0') return x0;
      const eps = tf.div(tf.sub(z, tf.mul(alpha, x0)), sigma);
      if (kind === 'eps') return eps as tf.Tensor4D;
      return tf.sub(tf.mul(alpha, eps), tf.mul(sigma, x0)) as tf.Tensor4D;
    });
}

/** The EDM F network: receives c_in z and c_noise, returns (D - c_skip z) / c_out with D exact. */
export function gaussianEdmF(d: GaussianData, sigmaData: number): RawNetwork {
  return (zIn, cNoise) =>
    tf.tidy(() => {
      const sig = Array.from(cNoise.dataSync()).map((c) => Math.exp(4 * c));
      const pc = sig.map((s) => edmPreconditioning(s, sigmaData));
      const b = sig.length;
      const col = (v: number[]): tf.Tensor4D => tf.tensor4d(v, [b, 1, 1, 1]);
      const z = tf.div(zIn, col(pc.map((p) => p.cIn))) as tf.Tensor4D;
      const dx = x0Tensor(d, z, col(sig.map(() => 1)), col(sig));
      return tf.div(
        tf.sub(dx, tf.mul(z, col(pc.map((p) => p.cSkip)))),
        col(pc.map((p) => p.cOut)),
      ) as tf.Tensor4D;
    });
}

export function gaussianDenoiser(
  d: GaussianData,
  schedule: NoiseSchedule,
  kind: Parameterization = 'eps',
): Denoiser {
  if (schedule.kind === 'edm') {
    const sigmaData = 0.5;
    return makeDenoiser({
      net: gaussianEdmF(d, sigmaData),
      parameterization: 'x0',
      schedule,
      space: 'pixel',
      dataShape: d.shape,
      sigmaData,
    });
  }
  const timeOf =
    schedule.kind === 've' ? (sigma: number) => schedule.timeAtLogSnr(-2 * Math.log(sigma)) : undefined;
  return makeDenoiser({
    net: gaussianRawNet(d, schedule, kind, timeOf),
    parameterization: kind,
    schedule,
    space: 'pixel',
    dataShape: d.shape,
  });
}

/** Per-element sample mean and standard deviation over the batch of a [B, H, W, C] array. */
export function elementMoments(
  values: Float32Array | number[],
  batch: number,
): { mean: number[]; std: number[] } {
  const per = values.length / batch;
  const mean: number[] = [];
  const std: number[] = [];
  for (let j = 0; j < per; j++) {
    let s = 0;
    let s2 = 0;
    for (let b = 0; b < batch; b++) {
      const v = values[b * per + j] as number;
      s += v;
      s2 += v * v;
    }
    const mu = s / batch;
    mean.push(mu);
    std.push(Math.sqrt(Math.max(0, s2 / batch - mu * mu) * (batch / (batch - 1))));
  }
  return { mean, std };
}
