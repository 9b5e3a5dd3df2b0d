/** Loading of the UNet parity fixtures written by scripts/fixtures/unets.py. */
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { readSafetensorsFileWithMetadata } from '../../src/checkpoint/safetensors.js';
import type { RawTensor, TensorMap } from '../../src/checkpoint/types.js';

export interface UNetFixture {
  /** The network's state_dict (official key names). */
  weights: TensorMap;
  /** Inputs and reference results, by name without the `io.` prefix. */
  io: Map<string, RawTensor>;
  /** The constructor arguments the fixture was made with. */
  config: Record<string, unknown>;
}

export async function loadUNetFixture(name: string): Promise<UNetFixture> {
  const path = fileURLToPath(new URL(`../fixtures/networks/${name}.safetensors`, import.meta.url));
  const { tensors, metadata } = await readSafetensorsFileWithMetadata(path);
  const weights: TensorMap = new Map();
  const io = new Map<string, RawTensor>();
  for (const [k, v] of tensors) {
    if (k.startsWith('io.')) io.set(k.slice(3), v);
    else weights.set(k, v);
  }
  const config = JSON.parse(metadata.config ?? '{}') as Record<string, unknown>;
  return { weights, io, config };
}

export function ioTensor<T extends tf.Tensor>(f: UNetFixture, name: string): T {
  const t = f.io.get(name);
  if (!t) throw new Error(`fixture has no io.${name}`);
  return tf.tensor(t.data, t.shape, t.data instanceof Float32Array ? 'float32' : 'int32') as T;
}

export function ioArray(f: UNetFixture, name: string): Float32Array {
  const t = f.io.get(name);
  if (!t) throw new Error(`fixture has no io.${name}`);
  return Float32Array.from(t.data);
}
