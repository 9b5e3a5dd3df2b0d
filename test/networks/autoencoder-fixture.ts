/**
 * Loader for the autoencoder parity fixtures written by scripts/fixtures/autoencoders.py: weights
 * stored as int8 codes with a power-of-two exponent per key (metadata `int8_exponents`), so the
 * float value is code * 2^-e exactly; `io.*` entries are inputs and float64-computed references.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { RawTensor, TensorMap } from '../../src/checkpoint/types.js';
import { readSafetensorsFileWithMetadata } from '../../src/checkpoint/safetensors.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/networks/', import.meta.url));

export interface AutoencoderFixture<C> {
  weights: TensorMap;
  io: Map<string, RawTensor>;
  config: C;
}

export async function loadAutoencoderFixture<C>(file: string): Promise<AutoencoderFixture<C>> {
  const { tensors, metadata } = await readSafetensorsFileWithMetadata(FIXTURE_DIR + file);
  const exps = JSON.parse(metadata['int8_exponents'] ?? '{}') as Record<string, number>;
  const weights: TensorMap = new Map();
  const io = new Map<string, RawTensor>();
  for (const [key, t] of tensors) {
    if (key.startsWith('io.')) {
      io.set(key.slice(3), t);
      continue;
    }
    const e = exps[key];
    if (e === undefined) throw new Error(`${file}: no int8 exponent for ${key}`);
    const scale = 2 ** -e;
    weights.set(key, { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data, (v) => v * scale) });
  }
  return { weights, io, config: JSON.parse(metadata['config'] ?? '{}') as C };
}

export function ioTensor(f: AutoencoderFixture<unknown>, name: string): tf.Tensor {
  const t = f.io.get(name);
  if (!t) throw new Error(`fixture has no io.${name}`);
  return tf.tensor(t.data, t.shape, t.data instanceof Int32Array ? 'int32' : 'float32');
}

export function ioData(f: AutoencoderFixture<unknown>, name: string): Float32Array | Int32Array | Uint8Array {
  const t = f.io.get(name);
  if (!t) throw new Error(`fixture has no io.${name}`);
  return t.data;
}
