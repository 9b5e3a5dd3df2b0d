/**
 * Integrity of a model folder's weights: each file's sha256 against the one model.yaml recorded
 * when the folder was written, and every float weight finite. A folder written before digests
 * were recorded has no `sha256` and is checked for finiteness only (see README, Reliability).
 */
import { createHash } from 'node:crypto';
import type { TensorMap } from '../checkpoint/types.js';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The error message for a file whose digest differs from the recorded one, or undefined. */
export function digestMismatch(
  file: string,
  bytes: Uint8Array,
  recorded: string | undefined,
  manifestFile: string,
): string | undefined {
  if (recorded === undefined) return undefined;
  const actual = sha256Hex(bytes);
  if (actual === recorded) return undefined;
  return `${file}: sha256 ${actual.slice(0, 16)}... does not match ${recorded.slice(0, 16)}... recorded in ${manifestFile} (the file is corrupt or was changed)`;
}

/** The error message for the first tensor holding NaN or infinity, or undefined. */
export function nonFiniteWeight(tensors: TensorMap, file: string): string | undefined {
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) continue;
    let bad = 0;
    for (const v of t.data) if (!Number.isFinite(v)) bad++;
    if (bad > 0)
      return `${file}: tensor '${name}' holds ${bad} non-finite value${bad > 1 ? 's' : ''} (NaN or infinity); the weights are unusable`;
  }
  return undefined;
}
