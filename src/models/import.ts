/**
 * Turning a downloaded checkpoint (safetensors, torch .ckpt/.pt/.pth, EDM .pkl) into a model folder:
 * read it without Python, choose EMA or raw weights, keep the tensors the manifest declares, and
 * write model.yaml + weights.safetensors with provenance in the safetensors metadata.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { readDiffusersFolder } from './diffusers.js';
import path from 'node:path';
import { readWholeFile } from '../checkpoint/file.js';
import { readCheckpoint } from '../checkpoint/read.js';
import type { CheckpointFormat } from '../checkpoint/read.js';
import { selectWeights } from '../checkpoint/select.js';
import type { Selection } from '../checkpoint/select.js';
import type { TensorMap } from '../checkpoint/types.js';
import { loadModelFolder, writeModelFolder } from './folder.js';
import type { ModelFolder } from './folder.js';
import type { ModelManifest } from './manifest.js';
import { nonFiniteWeight } from './weights-check.js';

export interface ImportOptions {
  /** EMA or raw weights when the checkpoint has both (default 'ema'). */
  prefer?: 'ema' | 'model';
  /** Whole-object pickles (EDM snapshots): see TorchReadOptions.opaque. */
  opaque?: boolean;
  /** Torch checkpoints: subtree holding the weights (default 'auto'). */
  root?: string;
  /**
   * Keep only tensors under the manifest's weight prefixes (network and autoencoder), dropping
   * e.g. text encoders or loss networks stored beside them. Default true; ignored when the network
   * prefix is '' (the whole file is the network).
   */
  onlyDeclared?: boolean;
  /** Store every floating tensor as float32 instead of its checkpoint dtype (default false: keep). */
  float32?: boolean;
  overwrite?: boolean;
}

export interface ImportResult {
  folder: ModelFolder;
  selection: Selection;
  format: CheckpointFormat | 'diffusers';
  /** Tensors of the checkpoint (after EMA selection) not written to the folder. */
  dropped: string[];
}

/** What importing a checkpoint would write: the kept tensors with their provenance metadata. */
export interface PreparedImport {
  tensors: TensorMap;
  metadata: Record<string, string>;
  selection: Selection;
  format: CheckpointFormat | 'diffusers';
  dropped: string[];
}

/** A checkpoint read and its EMA/raw copy chosen, before any manifest is applied. */
export interface SelectedCheckpoint {
  input: string;
  format: CheckpointFormat | 'diffusers';
  selection: Selection;
  sha256: string;
}

/** Read a checkpoint and choose EMA or raw weights (presets look at the result to make their manifest). */
export async function readSelected(input: string, options: Pick<ImportOptions, 'prefer' | 'opaque' | 'root'> = {}): Promise<SelectedCheckpoint> {
  if ((await stat(input).catch(() => undefined))?.isDirectory()) {
    // A diffusers model or pipeline folder, renamed to the CompVis layout (diffusers.ts).
    const d = await readDiffusersFolder(input);
    const note = `diffusers ${d.parts.join(' + ')} (no EMA copies in diffusers folders)`;
    return { input, format: 'diffusers', selection: { tensors: d.tensors, used: 'model', layout: 'none', emaTensors: 0, note }, sha256: d.sha256 };
  }
  const bytes = await readWholeFile(input);
  const loaded = await readCheckpoint(bytes, {
    source: input,
    ...(options.opaque !== undefined ? { opaque: options.opaque } : {}),
    ...(options.root !== undefined ? { root: options.root } : {}),
  });
  const selection = selectWeights(loaded.tensors, { prefer: options.prefer ?? 'ema' });
  return { input, format: loaded.format, selection, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Keep the tensors under the manifest's prefixes (see ImportOptions.onlyDeclared), with provenance metadata. */
export function keepDeclared(read: SelectedCheckpoint, manifest: ModelManifest, options: Pick<ImportOptions, 'onlyDeclared' | 'float32'> = {}): PreparedImport {
  const { selection } = read;
  const prefixes = [
    manifest.weightsPrefix ?? '',
    manifest.autoencoder?.weights ? null : manifest.autoencoder?.weightsPrefix,
    manifest.conditioning?.weightsPrefix,
  ].filter((p): p is string => p !== null && p !== undefined);
  const keepAll = options.onlyDeclared === false || prefixes.includes('');
  const tensors: TensorMap = new Map();
  const dropped: string[] = [];
  for (const [k, t] of selection.tensors) {
    if (!keepAll && !prefixes.some((p) => k.startsWith(p))) {
      dropped.push(k);
      continue;
    }
    const isFloat = t.dtype === 'float16' || t.dtype === 'bfloat16' || t.dtype === 'float64';
    tensors.set(k, options.float32 && isFloat ? { ...t, dtype: 'float32' } : t);
  }
  const metadata: Record<string, string> = {
    source_file: path.basename(read.input),
    source_sha256: read.sha256,
    source_format: read.format,
    weights_selected: selection.note,
  };
  return { tensors, metadata, selection, format: read.format, dropped };
}

/** Read, choose EMA or raw weights and keep the declared tensors, without writing anything. */
export async function prepareImport(input: string, manifest: ModelManifest, options: ImportOptions = {}): Promise<PreparedImport> {
  return keepDeclared(await readSelected(input, options), manifest, options);
}

export async function importCheckpoint(
  input: string,
  dir: string,
  manifest: ModelManifest,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const p = await prepareImport(input, manifest, options);
  const bad = nonFiniteWeight(p.tensors, input);
  if (bad) throw new Error(bad); // a model folder never receives weights it would refuse to load
  await writeModelFolder(dir, manifest, p.tensors, { metadata: p.metadata, ...(options.overwrite ? { overwrite: true } : {}) });
  return { folder: await loadModelFolder(dir), selection: p.selection, format: p.format, dropped: p.dropped };
}
