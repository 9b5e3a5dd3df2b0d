/** Shared test helpers: run a test body on each CPU-side backend, and compare arrays with a tolerance. */
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../../src/runtime/backend.js';

/** The backends every numerical test runs on here (tensorflow is used where it installs). */
export const TEST_BACKENDS: BackendName[] = ['wasm', 'cpu'];

export async function useBackend(name: BackendName): Promise<void> {
  await initBackend(name);
  tf.engine().startScope();
  tf.engine().endScope();
}

/** max |a - b| / max(max |b|, floor): a relative error on the array's scale. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-6): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let num = 0;
  let den = floor;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs((a[i] as number) - (b[i] as number)));
    den = Math.max(den, Math.abs(b[i] as number));
  }
  return num / den;
}
