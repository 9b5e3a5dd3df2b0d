/** Shared helpers for checkpoint tests: fixture paths and exact array comparison. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { RawTensor, TensorMap } from '../../src/checkpoint/types.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/checkpoint/', import.meta.url));

export function fixture(name: string): string {
  return FIXTURES + name;
}

/** Element-wise identity (Object.is: distinguishes -0 and matches NaN with NaN). */
export function assertSameValues(actual: RawTensor, expected: RawTensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.data.length, expected.data.length, `${what}: length`);
  for (let i = 0; i < actual.data.length; i++) {
    const a = actual.data[i] as number;
    const e = expected.data[i] as number;
    if (!Object.is(a, e)) assert.fail(`${what}[${i}]: got ${a}, expected ${e}`);
  }
}

/** Every expected key present with identical values (int64 expectations clamped to int32 first). */
export function assertTensorMapsEqual(actual: TensorMap, expected: TensorMap, what: string): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${what}: keys`);
  for (const [k, e] of expected) assertSameValues(actual.get(k) as RawTensor, e, `${what} ${k}`);
}
