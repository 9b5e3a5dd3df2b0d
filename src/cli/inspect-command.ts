/** `flow inspect`: a checkpoint's tensors grouped by key prefix, or a model folder's manifest and digest. */
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { stringify } from 'yaml';
import { inspectCheckpoint, renderCheckpointSummary, renderTensorList } from '../checkpoint/inspect.js';
import { loadModelFolder, MANIFEST_FILE } from '../models/folder.js';

export async function inspectPath(
  p: string,
  o: { opaque?: boolean; root?: string; depth: number; tensors?: boolean },
): Promise<string> {
  const st = await stat(p).catch(() => undefined);
  if (!st) throw new Error(`${p}: no such file or folder`);
  if (st.isDirectory()) {
    const folder = await loadModelFolder(p);
    const weights = path.join(p, folder.manifest.weights ?? 'weights.safetensors');
    const summary = await inspectCheckpoint(weights, { groupDepth: o.depth });
    return (
      [
        `model folder ${path.resolve(p)}`,
        `digest ${folder.digest}`,
        `${MANIFEST_FILE}:`,
        stringify(folder.manifest, { lineWidth: 0 }).replace(/^/gm, '  ').trimEnd(),
        renderCheckpointSummary(summary).trimEnd(),
        '',
      ].join('\n') + (o.tensors ? renderTensorList(summary) : '')
    );
  }
  const summary = await inspectCheckpoint(p, { opaque: o.opaque, root: o.root, groupDepth: o.depth });
  return renderCheckpointSummary(summary) + (o.tensors ? renderTensorList(summary) : '');
}
