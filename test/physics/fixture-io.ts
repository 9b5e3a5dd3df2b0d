/** Read the float32 arrays that scripts/fixtures/*.py store as base64 in JSON fixtures. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

export interface EncodedArray {
  shape: number[];
  data: string;
}

export function loadFixture<T>(relativeToTestFixtures: string): T {
  const path = fileURLToPath(new URL(`../fixtures/${relativeToTestFixtures}`, import.meta.url));
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function decodeArray(a: EncodedArray): Float32Array {
  const bytes = Buffer.from(a.data, 'base64');
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

export function decodeTensor4d(a: EncodedArray): tf.Tensor4D {
  return tf.tensor4d(decodeArray(a), a.shape as [number, number, number, number]);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
