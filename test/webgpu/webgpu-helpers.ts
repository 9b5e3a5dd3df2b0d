/**
 * The webgpu backend for tests: allowed on a software adapter (CI has no GPU), a skip reason when
 * no adapter can be created at all, and a runner that switches backends around a computation.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../../src/runtime/backend.js';

async function probe(): Promise<string | false> {
  try {
    await initBackend('webgpu', { allowSoftwareGpu: true });
    return false;
  } catch (e) {
    return `no WebGPU adapter can be created here (${e instanceof Error ? e.message : String(e)})`;
  }
}

/** For `test(name, { skip: webgpuSkip }, ...)`: false when webgpu works (on any adapter). */
export const webgpuSkip: string | false = await probe();

/**
 * Run `compute` with `name` as the active backend (webgpu allowed on a software adapter); it must
 * leave no tensors behind.
 */
export async function onBackend<T>(name: BackendName, compute: () => Promise<T>): Promise<T> {
  await initBackend(name, { allowSoftwareGpu: true });
  const before = tf.memory().numTensors;
  const result = await compute();
  assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
  return result;
}
