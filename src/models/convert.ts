/**
 * `flow convert`: a checkpoint (safetensors, or PyTorch zip/legacy/pickle read without Python)
 * plus a manifest (model.yaml without weights) becomes a model folder. EMA weights are chosen
 * where the checkpoint has them; only the tensors the manifest's prefixes cover are kept; the
 * networks are built once from the result, so a key or shape mismatch is reported (every key
 * named) before anything is written; the folder is then written atomically.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { readCheckpoint } from '../checkpoint/read.js';
import { selectWeights } from '../checkpoint/select.js';
import type { TensorMap } from '../checkpoint/types.js';
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

/** Keep the tensors under the prefixes the manifest declares (all of them when it declares none). */
function keepDeclared(m: ModelManifest, tensors: TensorMap): { kept: TensorMap; dropped: string[] } {
  const prefixes = [m.weightsPrefix ?? '', ...(m.autoencoder && !m.autoencoder.weights ? [m.autoencoder.weightsPrefix ?? ''] : [])];
  if (prefixes.includes('')) return { kept: tensors, dropped: [] };
  const kept: TensorMap = new Map();
  const dropped: string[] = [];
  for (const [k, v] of tensors) {
    if (prefixes.some((p) => k.startsWith(p))) kept.set(k, v);
    else dropped.push(k);
  }
  return { kept, dropped };
}

export async function convertCheckpoint(opts: ConvertOptions): Promise<ConvertReport> {
  const manifestText = await readFile(opts.manifest, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${opts.manifest}: cannot read the manifest (${e.code ?? e.message})`);
  });
  const parsed = parseManifest(manifestText, opts.manifest);
  if (parsed.autoencoder?.weights) {
    throw new Error(`${opts.manifest}: convert writes one weights file; drop autoencoder.weights and use weightsPrefix`);
  }
  const manifest = withDefaults({ ...parsed, weights: undefined });
  const ckpt = await readCheckpoint(opts.checkpoint, { opaque: opts.opaque, root: opts.root });
  const sel = selectWeights(ckpt.tensors, { prefer: opts.prefer ?? 'ema' });
  const { kept, dropped } = keepDeclared(manifest, sel.tensors);
  const folder: ModelFolder = { dir: opts.out, manifest, tensors: kept, metadata: {}, digest: '' };
  try {
    buildModel(folder).dispose();
  } catch (e) {
    throw new Error(`${opts.checkpoint}: does not fit ${opts.manifest}: ${(e instanceof Error ? e.message : String(e)).replace(/^.*model\.yaml: /, '')}`);
  }
  let parameters = 0;
  for (const t of kept.values()) parameters += t.shape.reduce((a, b) => a * b, 1);
  const source = [manifest.source, `converted by flow convert from ${path.basename(opts.checkpoint)} (${ckpt.format}; ${sel.note})`]
    .filter(Boolean)
    .join('; ');
  const final: ModelManifest = { ...manifest, source };
  await writeModelFolder(opts.out, final, kept, { overwrite: opts.overwrite, metadata: { format: 'flow-model', converted_from: path.basename(opts.checkpoint) } });
  return { out: path.join(opts.out, MANIFEST_FILE), manifest: final, format: ckpt.format, selection: sel.note, kept: kept.size, dropped, parameters };
}
