/**
 * Reading pipeline YAML: parse with positions kept, validate the document's shape with ajv, and
 * answer "where is this value in the file?" for every later error (params, wiring, types).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  isMap,
  isPair,
  isScalar,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import { FlowError, type SourceLocation } from './errors.js';
import { pipelineSchema } from './schema.js';
import { createAjv, firstAjvError } from './ajv.js';
import { PORT_TYPES, type PortType } from '../nodes/define.js';

export type YamlPath = (string | number)[];

export interface NodeDocument {
  type?: string;
  include?: string;
  description?: string;
  params: Record<string, unknown>;
  inputs: Record<string, string>;
}

export interface PipelineDocument {
  /** Absolute path of the file. */
  file: string;
  /** Folder relative paths in the document are resolved against. */
  dir: string;
  /** sha256-free raw text, kept for run.json and the cache key of the pipeline itself. */
  text: string;
  version: 1;
  name: string;
  description?: string;
  params: Record<string, unknown>;
  models: Record<string, string>;
  plugins: string[];
  /** Chains only: exposed input ports and their types. */
  inputs: Record<string, PortType>;
  /** Chains only: exposed output ports, as `node.port` inside the chain. */
  outputs: Record<string, string>;
  nodes: Record<string, NodeDocument>;
  /** Location of the value at `path` (or of its key, with `key`). */
  locate(path: YamlPath, key?: boolean): SourceLocation;
}

const ajv = createAjv();
const validateDocument = ajv.compile(pipelineSchema);

/** Pipelines are small; a huge file is a mistake (and the YAML checks are not linear in size). */
export const MAX_PIPELINE_BYTES = 1024 * 1024;

export async function readPipelineFile(file: string): Promise<PipelineDocument> {
  const abs = path.resolve(file);
  let text: string;
  try {
    const size = (await stat(abs)).size;
    if (size > MAX_PIPELINE_BYTES)
      throw new FlowError(`pipeline file is ${size} bytes, more than the ${MAX_PIPELINE_BYTES} allowed`, {
        file: abs,
      });
    text = await readFile(abs, 'utf8');
  } catch (e) {
    if (e instanceof FlowError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new FlowError(
      code === 'ENOENT' ? 'pipeline file not found' : `cannot read pipeline file (${code})`,
      {
        file: abs,
      },
    );
  }
  return parsePipelineText(text, abs);
}

export function parsePipelineText(text: string, file: string): PipelineDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, uniqueKeys: true });
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const where = firstError.linePos?.[0];
    const message =
      firstError.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'YAML error';
    throw new FlowError(`YAML syntax error: ${message}`, where ? { file, ...where } : { file });
  }
  const locate = (p: YamlPath, key = false): SourceLocation => locateIn(doc, p, key, at) ?? { file };
  const value: unknown = doc.toJS();
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FlowError('a pipeline document must be a YAML mapping', { file, line: 1, col: 1 });
  }
  if (!validateDocument(value)) {
    const err = firstAjvError(validateDocument.errors ?? []);
    throw new FlowError(`${err.message}`, locate(err.path, err.atKey));
  }
  const v = value as unknown as Record<string, unknown>;
  const inputs = (v.inputs ?? {}) as Record<string, string>;
  for (const [name, type] of Object.entries(inputs)) {
    if (!(PORT_TYPES as readonly string[]).includes(type)) {
      throw new FlowError(
        `chain input '${name}' has unknown port type '${type}' (one of ${PORT_TYPES.join(', ')})`,
        locate(['inputs', name]),
      );
    }
  }
  const nodes: Record<string, NodeDocument> = {};
  for (const [id, raw] of Object.entries(v.nodes as Record<string, Record<string, unknown>>)) {
    if (id === 'inputs')
      throw new FlowError(`'inputs' is reserved and cannot name a node`, locate(['nodes', id], true));
    nodes[id] = {
      type: raw.type as string | undefined,
      include: raw.include as string | undefined,
      description: raw.description as string | undefined,
      params: (raw.params ?? {}) as Record<string, unknown>,
      inputs: (raw.inputs ?? {}) as Record<string, string>,
    };
  }
  return {
    file,
    dir: path.dirname(file),
    text,
    version: 1,
    name: v.name as string,
    description: v.description as string | undefined,
    params: (v.params ?? {}) as Record<string, unknown>,
    models: (v.models ?? {}) as Record<string, string>,
    plugins: (v.plugins ?? []) as string[],
    inputs: inputs as Record<string, PortType>,
    outputs: (v.outputs ?? {}) as Record<string, string>,
    nodes,
    locate,
  };
}

/** Walk the YAML AST along `p`; return the deepest location reached (so a missing key points at its parent). */
function locateIn(
  doc: Document,
  p: YamlPath,
  key: boolean,
  at: (offset: number) => SourceLocation,
): SourceLocation | undefined {
  let node: unknown = doc.contents;
  let best: SourceLocation | undefined = rangeOf(node, at);
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    if (isMap(node)) {
      const pair = node.items.find(
        (it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg),
      );
      if (!pair) return best;
      if (key && i === p.length - 1) return rangeOf(pair.key, at) ?? best;
      node = pair.value;
    } else if (node && typeof node === 'object' && 'items' in node && Array.isArray(node.items)) {
      node = node.items[Number(seg)];
    } else {
      return best;
    }
    best = rangeOf(node, at) ?? best;
  }
  return best;
}

function rangeOf(node: unknown, at: (offset: number) => SourceLocation): SourceLocation | undefined {
  const r = (node as YamlNode | undefined)?.range;
  return r ? at(r[0]) : undefined;
}
