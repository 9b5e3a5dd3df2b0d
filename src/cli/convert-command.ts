/** `flow convert`: one of --manifest, --preset, --compvis-config; `--list-presets`. */
import { convertCheckpoint, type ConvertReport } from '../models/convert.js';
import {
  convertWithCompVisConfig,
  convertWithPreset,
  describeNeeds,
  listPresets,
} from '../models/presets.js';
import { initBackend } from '../runtime/backend.js';

export interface ConvertCommandOptions {
  manifest?: string;
  preset?: string;
  compvisConfig?: string;
  listPresets?: boolean;
  out?: string;
  prefer: 'ema' | 'model';
  opaque?: boolean;
  root?: string;
  overwrite?: boolean;
}

export function presetListing(): string {
  return listPresets()
    .map((p) => `${p.name}\n  ${p.description}\n  needs: ${describeNeeds(p)}\n`)
    .join('');
}

export async function runConvert(
  checkpoint: string | undefined,
  o: ConvertCommandOptions,
): Promise<ConvertReport> {
  const given = [o.manifest, o.preset, o.compvisConfig].filter((v) => v !== undefined).length;
  if (given !== 1)
    throw new Error('flow convert: give exactly one of --manifest, --preset, --compvis-config');
  if (!checkpoint) throw new Error('flow convert: missing the checkpoint argument');
  if (!o.out) throw new Error('flow convert: missing --out <dir>');
  await initBackend(undefined);
  const common = { prefer: o.prefer, overwrite: o.overwrite };
  if (o.preset) return convertWithPreset(o.preset, [checkpoint], o.out, common);
  if (o.compvisConfig) return convertWithCompVisConfig(o.compvisConfig, checkpoint, o.out, common);
  return convertCheckpoint({
    checkpoint,
    manifest: o.manifest as string,
    out: o.out,
    opaque: o.opaque,
    root: o.root,
    ...common,
  });
}
