/**
 * `flow inspect`: what is inside a checkpoint, without decoding tensor data. Works on safetensors
 * (header only), torch zip / legacy files and pickles (parsed, tensors listed but not decoded).
 */
import { open, stat } from 'node:fs/promises';
import { readWholeFile } from './file.js';
import { readSafetensorsHeader } from './safetensors.js';
import { scanTorchCheckpoint } from './torch.js';
import type { TorchFormat } from './torch.js';
import { detectEma } from './select.js';
import type { EmaPresence } from './select.js';
import type { CheckpointDType } from './types.js';

export interface InspectOptions {
  /** Pickles with arbitrary objects (EDM snapshots): see TorchReadOptions.opaque. */
  opaque?: boolean;
  /** Torch checkpoints: which subtree to report ('auto' | 'all' | dotted path). */
  root?: string;
  /** Number of leading key segments that form a group (default 2). */
  groupDepth?: number;
}

export interface TensorGroup {
  prefix: string;
  tensors: number;
  parameters: number;
}

export interface CheckpointSummary {
  path: string;
  format: 'safetensors' | TorchFormat;
  fileBytes: number;
  tensorCount: number;
  /** Total number of elements over all tensors. */
  parameterCount: number;
  dtypes: Partial<Record<CheckpointDType, { tensors: number; parameters: number }>>;
  /** Key prefixes (first `groupDepth` segments, never the final name) in first-seen order. */
  groups: TensorGroup[];
  ema: EmaPresence;
  /** safetensors `__metadata__`, or top-level scalars of a torch checkpoint (global_step, epoch...). */
  metadata: Record<string, string | number | boolean | null>;
  /** Torch checkpoints: where tensors were taken from and how many were left outside it. */
  root?: string;
  skippedTensors?: number;
  version?: string;
  /** Every tensor, in file order. */
  list: Listed[];
}

export interface Listed {
  key: string;
  dtype: CheckpointDType;
  shape: number[];
}

function isSafetensors(head: Uint8Array, size: number): boolean {
  if (head.length < 9) return false;
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  return n > 0 && 8 + n <= size && head[8] === 0x7b; // '{', as looksLikeSafetensors, without reading the file
}

async function readHead(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export function groupPrefix(key: string, depth: number): string {
  const parts = key.split('.');
  return parts.slice(0, Math.max(1, Math.min(depth, parts.length - 1))).join('.');
}

export async function inspectCheckpoint(
  path: string,
  options: InspectOptions = {},
): Promise<CheckpointSummary> {
  const fileBytes = (await stat(path)).size;
  const head = await readHead(path, 9);
  let listed: Listed[];
  let summary: Omit<
    CheckpointSummary,
    'tensorCount' | 'parameterCount' | 'dtypes' | 'groups' | 'ema' | 'list'
  >;
  if (isSafetensors(head, fileBytes)) {
    const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
    const header = readSafetensorsHeader(await readHead(path, 8 + n), path, fileBytes);
    listed = header.entries;
    summary = { path, format: 'safetensors', fileBytes, metadata: { ...header.metadata } };
  } else {
    const scan = await scanTorchCheckpoint(await readWholeFile(path), {
      source: path,
      ...(options.opaque !== undefined ? { opaque: options.opaque } : {}),
      ...(options.root !== undefined ? { root: options.root } : {}),
    });
    listed = scan.entries;
    const metadata: CheckpointSummary['metadata'] = {};
    for (const [k, v] of Object.entries(scan.meta.values)) if (!k.includes('.')) metadata[k] = v;
    summary = {
      path,
      format: scan.meta.format,
      fileBytes,
      metadata,
      root: scan.meta.root,
      skippedTensors: scan.meta.skippedTensors,
      ...(scan.meta.version !== undefined ? { version: scan.meta.version } : {}),
    };
  }
  const depth = options.groupDepth ?? 2;
  const dtypes: CheckpointSummary['dtypes'] = {};
  const groups = new Map<string, TensorGroup>();
  let parameterCount = 0;
  for (const t of listed) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    parameterCount += numel;
    const d = (dtypes[t.dtype] ??= { tensors: 0, parameters: 0 });
    d.tensors++;
    d.parameters += numel;
    const prefix = groupPrefix(t.key, depth);
    let g = groups.get(prefix);
    if (!g) groups.set(prefix, (g = { prefix, tensors: 0, parameters: 0 }));
    g.tensors++;
    g.parameters += numel;
  }
  return {
    ...summary,
    tensorCount: listed.length,
    parameterCount,
    dtypes,
    groups: [...groups.values()],
    ema: detectEma(listed.map((t) => t.key)),
    list: listed,
  };
}

/** One line per tensor: name, dtype, shape. */
export function renderTensorList(summary: CheckpointSummary): string {
  const width = Math.max(0, ...summary.list.map((t) => t.key.length));
  return summary.list
    .map((t) => `  ${t.key.padEnd(width)}  ${t.dtype.padEnd(8)}  [${t.shape.join(', ')}]\n`)
    .join('');
}

const fmtInt = (n: number) => n.toLocaleString('en-US');

/** Bytes in binary units (KB = 1024 B). */
export function fmtBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Plain-text report for the terminal. */
export function renderCheckpointSummary(s: CheckpointSummary): string {
  const lines: string[] = [];
  lines.push(`checkpoint: ${s.path}`);
  lines.push(
    `format:     ${s.format}${s.version ? ` (version ${s.version})` : ''}, ${fmtBytes(s.fileBytes)}`,
  );
  lines.push(`tensors:    ${fmtInt(s.tensorCount)}, parameters: ${fmtInt(s.parameterCount)}`);
  const dt = Object.entries(s.dtypes).map(([d, c]) => `${d} ${fmtInt(c.tensors)} (${fmtInt(c.parameters)})`);
  lines.push(`dtypes:     ${dt.join(', ') || '-'}`);
  if (s.root !== undefined)
    lines.push(
      `root:       ${s.root === '' ? '(whole file)' : s.root}` +
        (s.skippedTensors ? `, ${fmtInt(s.skippedTensors)} tensors outside it not listed` : ''),
    );
  lines.push(
    `EMA:        ${s.ema.layout === 'none' ? 'none' : `${s.ema.layout} layout under ${s.ema.prefix}* (${fmtInt(s.ema.tensors)} tensors)`}`,
  );
  if (s.groups.length) {
    const w = Math.max(6, ...s.groups.map((g) => g.prefix.length));
    lines.push('');
    lines.push(`${'prefix'.padEnd(w)}  ${'tensors'.padStart(8)}  ${'parameters'.padStart(14)}`);
    for (const g of s.groups)
      lines.push(
        `${g.prefix.padEnd(w)}  ${fmtInt(g.tensors).padStart(8)}  ${fmtInt(g.parameters).padStart(14)}`,
      );
  }
  const meta = Object.entries(s.metadata);
  if (meta.length) {
    lines.push('');
    lines.push('metadata:');
    for (const [k, v] of meta)
      lines.push(`  ${k}: ${typeof v === 'string' && v.length > 120 ? v.slice(0, 117) + '...' : String(v)}`);
  }
  return lines.join('\n') + '\n';
}
