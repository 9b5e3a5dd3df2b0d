/**
 * After a pull, the matching preset (known-repos.ts) turns the downloaded checkpoint into a model
 * folder in the store (`converted/<sha>/<preset>`), once per commit. The conversion itself is the
 * presets' `convertWithPreset(preset, files, outDir)` (src/models/), reached through the
 * `ConvertWithPreset` seam so this file depends on its shape only.
 */
import path from 'node:path';
import { stat } from 'node:fs/promises';
import picomatch from 'picomatch';
import { knownRepo } from './known-repos.js';
import type { PullResult } from './pull.js';
import type { ModelStore } from './store.js';

/** Writes the model folder `outDir` from the checkpoint `files` with preset `preset`. */
export type ConvertWithPreset = (
  preset: string,
  files: readonly string[],
  outDir: string,
) => Promise<unknown>;

export type Conversion =
  | { kind: 'no-preset' }
  /** What the preset reads was not among the pulled files (an --include left it out). */
  | { kind: 'not-pulled'; preset: string; missing: string[] }
  /** No converter is wired: the command that converts by hand. */
  | { kind: 'by-hand'; preset: string; command: string }
  | { kind: 'converted'; preset: string; folder: string; reused: boolean };

export async function convertAfterPull(
  pulled: PullResult,
  store: ModelStore,
  convert: ConvertWithPreset | undefined,
): Promise<Conversion> {
  const known = knownRepo(pulled.repo);
  if (!known) return { kind: 'no-preset' };
  const missing = known.include.filter((glob) => !pulled.files.some((f) => picomatch.isMatch(f.path, glob)));
  if (missing.length) return { kind: 'not-pulled', preset: known.preset, missing };
  const input = known.reads === 'file' ? path.join(pulled.snapshot, known.include[0] ?? '') : pulled.snapshot;
  const folder = store.convertedDir(pulled.repo, pulled.sha, known.preset);
  if (!convert) {
    return {
      kind: 'by-hand',
      preset: known.preset,
      command: `flow convert ${input} --preset ${known.preset} --out ${folder}`,
    };
  }
  const done = await stat(path.join(folder, 'model.yaml')).then(
    () => true,
    () => false,
  );
  if (!done) await convert(known.preset, [input], folder);
  return { kind: 'converted', preset: known.preset, folder, reused: done };
}
