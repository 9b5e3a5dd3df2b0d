/**
 * Where an output image came from, carried inside the PNG as tEXt chunks: the pipeline (name and
 * sha256 of its file), the node, item, seed and a digest of the node's params, and flow's version.
 */
import { createHash } from 'node:crypto';
import { addPngText, isPng } from '../io/png-text.js';
import type { OutputFile } from '../nodes/define.js';
import { canonicalJson } from './cache.js';

export interface Provenance {
  pipeline: string;
  pipelineSha256: string;
  node: string;
  item?: string;
  seed: number;
  params: Record<string, unknown>;
  flowVersion: string;
}

/** The tEXt keywords written, in order. */
export function provenanceText(p: Provenance): Record<string, string> {
  return {
    Software: `flow ${p.flowVersion}`,
    'flow:pipeline': p.pipeline,
    'flow:pipeline-sha256': p.pipelineSha256,
    'flow:node': p.node,
    ...(p.item !== undefined ? { 'flow:item': p.item } : {}),
    'flow:seed': String(p.seed),
    'flow:params-sha256': createHash('sha256').update(canonicalJson(p.params)).digest('hex'),
  };
}

/** PNG files get the provenance chunks; other files pass through unchanged. */
export function stampOutputFile(file: OutputFile, p: Provenance): OutputFile {
  if (!file.path.toLowerCase().endsWith('.png') || !isPng(file.bytes)) return file;
  return { path: file.path, bytes: addPngText(file.bytes, provenanceText(p)) };
}
