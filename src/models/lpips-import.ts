/**
 * An LPIPS model folder from the two files LPIPS is distributed as: the linear-layer weights
 * (`lpips/weights/v0.1/squeeze.pth`, keys `lin{k}.model.1.weight`) and the SqueezeNet 1.1 backbone
 * (a torchvision-numbered state dict: `features.{i}.*` or bare `{i}.*`; `classifier.*` dropped).
 * Backbone keys are renamed to the official LPIPS module's (`net.slice{s}.{i}.*`), the network is
 * built once from the result (so every missing or mis-shaped key is reported before anything is
 * written), and the folder is written atomically.
 */
import path from 'node:path';
import { readCheckpoint } from '../checkpoint/read.js';
import type { TensorMap } from '../checkpoint/types.js';
import { LpipsSqueeze, squeezeSliceOf } from '../networks/lpips.js';
import { MANIFEST_FILE, writeModelFolder } from './folder.js';
import { withDefaults, type ModelManifest } from './manifest.js';

export interface LpipsImportOptions {
  /** The LPIPS v0.1 linear weights (squeeze.pth). */
  lin: string;
  /** SqueezeNet 1.1 ImageNet weights (torchvision state dict, whole model or `features` only). */
  backbone: string;
  out: string;
  overwrite?: boolean;
}

/** Backbone keys renamed into the LPIPS module's namespace; anything else is an error. */
export function lpipsBackboneKeys(backbone: TensorMap, source: string): TensorMap {
  const out: TensorMap = new Map();
  for (const [key, t] of backbone) {
    if (key.startsWith('classifier.')) continue;
    const m = /^(?:features\.)?(\d+)\.(.+)$/.exec(key);
    if (!m) throw new Error(`${source}: key '${key}' is not a SqueezeNet features parameter`);
    const index = Number(m[1]);
    out.set(`net.slice${squeezeSliceOf(index)}.${index}.${m[2]}`, t);
  }
  return out;
}

export async function importLpipsSqueeze(opts: LpipsImportOptions): Promise<{ out: string; parameters: number }> {
  const lin = await readCheckpoint(opts.lin);
  const backbone = await readCheckpoint(opts.backbone);
  const tensors: TensorMap = lpipsBackboneKeys(backbone.tensors, opts.backbone);
  for (const [key, t] of lin.tensors) {
    if (!/^lin\d\.model\.1\.weight$/.test(key)) throw new Error(`${opts.lin}: key '${key}' is not an LPIPS linear weight`);
    tensors.set(key, t);
  }
  try {
    LpipsSqueeze.load(tensors).dispose();
  } catch (e) {
    throw new Error(`${opts.lin} + ${opts.backbone}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const manifest: ModelManifest = withDefaults({
    name: path.basename(path.resolve(opts.out)),
    kind: 'perceptual',
    description: 'LPIPS v0.1, SqueezeNet 1.1 backbone: perceptual distance of images in [-1, 1] (grayscale repeated to RGB)',
    architecture: { type: 'lpips-squeeze', config: {} },
    dataShape: [64, 64, 3],
    source:
      `LPIPS v0.1 linear weights ${path.basename(opts.lin)} (${lin.format}) and SqueezeNet 1.1 backbone ` +
      `${path.basename(opts.backbone)} (${backbone.format}); BSD-2-Clause (richzhang/PerceptualSimilarity); ` +
      'imported by flow import-lpips',
  });
  await writeModelFolder(opts.out, manifest, tensors, { overwrite: opts.overwrite });
  let parameters = 0;
  for (const t of tensors.values()) parameters += t.shape.reduce((a, b) => a * b, 1);
  return { out: path.join(opts.out, MANIFEST_FILE), parameters };
}
