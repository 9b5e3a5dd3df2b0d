/**
 * `flow convert`: a checkpoint (safetensors, or PyTorch zip/legacy/pickle read without Python)
 * plus a manifest (model.yaml without weights) becomes a model folder. EMA weights are chosen
 * where the checkpoint has them; only the tensors the manifest's prefixes cover are kept; the
 * networks are built once from the result, so a key or shape mismatch is reported (every key
 * named) before anything is written; the folder is then written atomically.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { prepareImport, type PreparedImport } from './import.js';
import { MANIFEST_FILE, parseManifest, writeModelFolder, type ModelFolder } from './folder.js';
import { withDefaults, type ModelManifest } from './manifest.js';
import { buildModel } from './build.js';

export interface ConvertOptions {
  checkpoint: string;
  /** A model.yaml describing architecture, schedule, prediction, ... (its `weights` is ignored). */
  manifest: string;
  out: string;
  prefer?: 'ema' | 'model';
  /** Whole-object pickles (NVlabs EDM network snapshots). */
  opaque?: boolean;
  /** Torch checkpoints: subtree to read ('auto', 'all' or a dotted path). */
  root?: string;
  overwrite?: boolean;
}

export interface ConvertReport {
  out: string;
  manifest: ModelManifest;
  format: string;
  selection: string;
  kept: number;
  dropped: string[];
  parameters: number;
}

export async function convertCheckpoint(opts: ConvertOptions): Promise<ConvertReport> {
  const manifestText = await readFile(opts.manifest, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${opts.manifest}: cannot read the manifest (${e.code ?? e.message})`);
  });
  const parsed = parseManifest(manifestText, opts.manifest);
  const manifest = withDefaults({ ...parsed, weights: undefined });
  const prepared = await prepareImport(opts.checkpoint, manifest, { prefer: opts.prefer, opaque: opts.opaque, root: opts.root });
  return writeConverted(manifest, prepared, { out: opts.out, source: opts.checkpoint, against: opts.manifest, overwrite: opts.overwrite });
}

export interface WriteConvertedOptions {
  out: string;
  /** The checkpoint file (or folder) the tensors came from, for messages and provenance. */
  source: string;
  /** What the tensors were checked against (a manifest file or a preset), for messages. */
  against: string;
  overwrite?: boolean;
}

/**
 * Build the networks from `prepared.tensors` once (any missing, mis-shaped or unexpected key
 * fails here, naming them all), then write the folder atomically. Nothing is written on failure.
 */
export async function writeConverted(manifest: ModelManifest, prepared: PreparedImport, opts: WriteConvertedOptions): Promise<ConvertReport> {
  if (manifest.autoencoder?.weights) {
    throw new Error(`${opts.against}: convert writes one weights file; drop autoencoder.weights and use weightsPrefix`);
  }
  const full = withDefaults({ ...manifest, weights: undefined });
  const kept = prepared.tensors;
  const folder: ModelFolder = { dir: opts.out, manifest: full, tensors: kept, metadata: {}, digest: '' };
  try {
    buildModel(folder).dispose();
  } catch (e) {
    throw new Error(`${opts.source}: does not fit ${opts.against}: ${(e instanceof Error ? e.message : String(e)).replace(/^.*model\.yaml: /, '')}`);
  }
  let parameters = 0;
  for (const t of kept.values()) parameters += t.shape.reduce((a, b) => a * b, 1);
  const note = `converted by flow convert from ${path.basename(opts.source)} (${prepared.format}; ${prepared.selection.note})`;
  const final: ModelManifest = { ...full, source: [full.source, note].filter(Boolean).join('; ') };
  await writeModelFolder(opts.out, final, kept, { overwrite: opts.overwrite, metadata: prepared.metadata });
  return {
    out: path.join(opts.out, MANIFEST_FILE),
    manifest: final,
    format: prepared.format,
    selection: prepared.selection.note,
    kept: kept.size,
    dropped: prepared.dropped,
    parameters,
  };
}
