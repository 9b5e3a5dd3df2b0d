/**
 * One entry point for any supported checkpoint file: safetensors or PyTorch (zip, legacy, pickle),
 * recognised by content rather than by extension.
 */
import { readWholeFile } from './file.js';
import { readSafetensorsWithMetadata } from './safetensors.js';
import { readTorchCheckpoint } from './torch.js';
import type { TorchCheckpointMeta, TorchReadOptions } from './torch.js';
import type { TensorMap } from './types.js';

export type CheckpointFormat = 'safetensors' | TorchCheckpointMeta['format'];

export interface LoadedCheckpoint {
  format: CheckpointFormat;
  tensors: TensorMap;
  /** safetensors `__metadata__`, or the scalar leaves of a torch checkpoint (stringified). */
  metadata: Record<string, string>;
  /** Torch checkpoints only: the reader's full description. */
  torch?: TorchCheckpointMeta;
}

/** True when the bytes start like a safetensors file (plausible header length, then '{'). */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9 || bytes[8] !== 0x7b) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 0n && n <= BigInt(bytes.length - 8);
}

/** Read any supported checkpoint. Torch options (opaque, root) apply to torch files only. */
export async function readCheckpoint(
  input: string | Uint8Array,
  options: TorchReadOptions = {},
): Promise<LoadedCheckpoint> {
  const source = options.source ?? (typeof input === 'string' ? input : '<bytes>');
  const bytes = typeof input === 'string' ? await readWholeFile(input) : input;
  if (looksLikeSafetensors(bytes)) {
    const { tensors, metadata } = readSafetensorsWithMetadata(bytes, source);
    return { format: 'safetensors', tensors, metadata };
  }
  const { tensors, meta } = await readTorchCheckpoint(bytes, { ...options, source });
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta.values)) metadata[k] = String(v);
  return { format: meta.format, tensors, metadata, torch: meta };
}
