/** Shared plumbing of the one-step samplers: resolving times to levels, the prediction pair, noise. */
import * as tf from '@tensorflow/tfjs';
import type { NoiseLevel, NoiseSchedule, TimeOrLevel } from '../schedules/types.js';
import { epsToX0, x0ToEps } from './predictions.js';

export function resolveLevel(schedule: NoiseSchedule, x: TimeOrLevel): NoiseLevel {
  return typeof x === 'number' ? schedule.level(x) : x;
}

/** The levels of a step from t down to s, checking that s is strictly less noisy than t. */
export function stepLevels(
  schedule: NoiseSchedule,
  t: TimeOrLevel,
  s: TimeOrLevel,
  what: string,
): { lt: NoiseLevel; ls: NoiseLevel } {
  const lt = resolveLevel(schedule, t);
  const ls = resolveLevel(schedule, s);
  if (!(lt.sigma > 0)) throw new Error(`${what}: the starting level t must have sigma > 0`);
  // Noise-to-signal ratio sigma/alpha must drop from t to s.
  if (!(ls.sigma * lt.alpha < lt.sigma * ls.alpha)) {
    throw new Error(
      `${what}: s must be less noisy than t (got t=${JSON.stringify(t)}, s=${JSON.stringify(s)})`,
    );
  }
  return { lt, ls };
}

/** Both halves of a prediction at level lt: whichever is missing is derived from z_t. */
export function predictionPair(
  lt: NoiseLevel,
  zt: tf.Tensor,
  eps: tf.Tensor | undefined,
  x0: tf.Tensor | undefined,
): { eps: tf.Tensor; x0: tf.Tensor } {
  if (eps && x0) return { eps, x0 };
  if (eps) return { eps, x0: epsToX0(zt, eps, lt.alpha, lt.sigma) };
  if (x0) return { eps: x0ToEps(zt, x0, lt.alpha, lt.sigma), x0 };
  throw new Error('a sampler step needs the prediction eps or x0 (or both)');
}

/** mean + std * noise, checking the noise's shape; std = 0 needs no noise. */
export function addNoise(
  mean: tf.Tensor,
  std: number,
  noise: tf.Tensor | undefined,
  what: string,
): tf.Tensor {
  if (std === 0) return mean;
  if (!noise)
    throw new Error(`${what}: this step has std ${std.toPrecision(4)} > 0 and needs a noise tensor`);
  if (noise.shape.join(',') !== mean.shape.join(',')) {
    throw new Error(`${what}: noise shape [${noise.shape}] differs from the sample's [${mean.shape}]`);
  }
  return tf.add(mean, tf.mul(noise, std));
}
