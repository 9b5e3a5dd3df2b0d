/**
 * The one mapping between stored pixels and tensor values. Images in flow are NHWC float32 in
 * [-1, 1]: an 8-bit value p maps to p / 127.5 - 1 (16-bit: p / 32767.5 - 1), and back by
 * round((x + 1) * 127.5) after clipping. Keeping it here means readers, writers and the grid agree.
 */
import type * as tf from '@tensorflow/tfjs';

/** Interleaved (HWC) 8-bit pixels of one image. */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Map stored 8-bit or 16-bit samples into [-1, 1]. */
export function samplesToFloat(samples: Uint8Array | Uint16Array): Float32Array {
  const half = samples instanceof Uint16Array ? 32767.5 : 127.5;
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = (samples[i] as number) / half - 1;
  return out;
}

/**
 * Map values in [lo, hi] (default [-1, 1]) to 8-bit: clip, scale, round half up. NaN becomes 0 so
 * that a diverged sample still writes a (black) file instead of failing the run.
 */
export function floatToUint8(
  values: ArrayLike<number>,
  range: readonly [number, number] = [-1, 1],
): Uint8Array {
  const [lo, hi] = range;
  if (!(hi > lo)) throw new Error(`invalid value range [${lo}, ${hi}]`);
  const scale = 255 / (hi - lo);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) continue;
    const c = v < lo ? lo : v > hi ? hi : v;
    out[i] = Math.floor((c - lo) * scale + 0.5);
  }
  return out;
}

/**
 * Read every image of a batch (a 3-D HWC tensor counts as a batch of one) as 8-bit pixels, with
 * one download of the tensor's data. Only 1- and 3-channel images are accepted: those are the only
 * kinds flow's image ports carry.
 */
export async function tensorToPixels(
  t: tf.Tensor3D | tf.Tensor4D,
  range: readonly [number, number] = [-1, 1],
): Promise<RawPixels[]> {
  const shape = t.shape;
  const [n, height, width, channels] = shape.length === 3 ? [1, ...shape] : shape;
  if (channels !== 1 && channels !== 3) {
    throw new Error(`expected an image with 1 or 3 channels, got shape [${shape.join(', ')}]`);
  }
  const all = await t.data();
  const size = height * width * channels;
  const images: RawPixels[] = [];
  for (let i = 0; i < n; i++) {
    const data = floatToUint8(all.subarray(i * size, (i + 1) * size), range);
    images.push({ data, width, height, channels });
  }
  return images;
}
