/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length N, N bytes of JSON `{ key: { dtype, shape, data_offsets },
 * "__metadata__"?: { string: string } }`, then the raw little-endian tensor bytes, offsets relative
 * to the end of the header. Everything in the header is validated before any tensor is decoded.
 */
import { rename, writeFile } from 'node:fs/promises';
import { readWholeFile } from './file.js';
import type { CheckpointDType, RawTensor, TensorMap } from './types.js';
import { checkpointError } from './errors.js';
import { ITEM_SIZE, decodeElements, encodeElements } from './dtypes.js';

const FILE_DTYPES: Record<string, CheckpointDType> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const DTYPE_NAMES: Record<CheckpointDType, string> = Object.fromEntries(
  Object.entries(FILE_DTYPES).map(([k, v]) => [v, k]),
) as Record<CheckpointDType, string>;

/** Same limit as the reference implementation: a header larger than this is not a real file. */
const MAX_HEADER_BYTES = 100_000_000;

/** What a safetensors file declares about itself, besides its tensors. */
export interface SafetensorsContents {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

/** Read a safetensors file held in memory. `source` names the file in error messages. */
export function readSafetensors(bytes: Uint8Array, source?: string): TensorMap {
  return readSafetensorsWithMetadata(bytes, source).tensors;
}

/** One tensor as the header declares it; offsets are absolute positions in the file. */
export interface SafetensorsEntry {
  key: string;
  dtype: CheckpointDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** In data order (file order). */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

/** As readSafetensors, also returning the `__metadata__` string map (empty when absent). */
export function readSafetensorsWithMetadata(bytes: Uint8Array, source?: string): SafetensorsContents {
  const { entries, metadata } = readSafetensorsHeader(bytes, source);
  const tensors: TensorMap = new Map();
  for (const e of entries) {
    const count = (e.end - e.begin) / ITEM_SIZE[e.dtype];
    tensors.set(e.key, {
      dtype: e.dtype,
      shape: e.shape,
      data: decodeElements(bytes, e.begin, count, e.dtype),
    });
  }
  return { tensors, metadata };
}

/**
 * Parse and validate the header only (no tensor is decoded): header length, JSON, dtype names,
 * shapes, offsets in bounds, byte sizes agreeing with shapes, no overlaps. `bytes` must hold at
 * least the whole header; the data section is bounds-checked against `fileLength` (default: all of `bytes`).
 */
export function readSafetensorsHeader(
  bytes: Uint8Array,
  source?: string,
  fileLength = bytes.length,
): SafetensorsHeader {
  const fail = (msg: string, key?: string) => checkpointError(source, `safetensors: ${msg}`, key);
  if (bytes.length < 8) throw fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES)
    throw fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (8 + headerLen > fileLength)
    throw fail(`header length ${headerLen} runs past the end of the file (${fileLength} bytes)`);
  if (8 + headerLen > bytes.length) throw fail('header is incomplete in the bytes given');
  const headerText = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(8, 8 + headerLen));
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    throw fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw fail('header JSON is not an object');
  const dataStart = 8 + headerLen;
  const dataLen = fileLength - dataStart;

  const metadata: Record<string, string> = {};
  type Entry = SafetensorsEntry;
  const entries: Entry[] = [];
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw fail('__metadata__ is not an object of strings');
      for (const [mk, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') throw fail(`__metadata__ value for '${mk}' is not a string`);
        metadata[mk] = mv;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null) throw fail('entry is not an object', key);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in FILE_DTYPES))
      throw fail(
        `unsupported dtype ${JSON.stringify(dtype)} (known: ${Object.keys(FILE_DTYPES).join(', ')})`,
        key,
      );
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      throw fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, key);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)
    )
      throw fail(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`, key);
    const [begin, end] = offsets as [number, number];
    const dt = FILE_DTYPES[dtype] as CheckpointDType;
    const dims = shape as number[];
    const numel = dims.reduce((a, b) => a * b, 1);
    if (end < begin) throw fail(`data_offsets [${begin}, ${end}] end before they begin`, key);
    if (end > dataLen)
      throw fail(`data_offsets [${begin}, ${end}] run past the data section (${dataLen} bytes)`, key);
    if (end - begin !== numel * ITEM_SIZE[dt])
      throw fail(
        `shape ${JSON.stringify(dims)} of ${dtype} needs ${numel * ITEM_SIZE[dt]} bytes but data_offsets span ${end - begin}`,
        key,
      );
    entries.push({ key, dtype: dt, shape: dims, begin, end });
  }
  // File order = data order; this also makes the overlap check a single pass.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1] as Entry;
    const cur = entries[i] as Entry;
    if (cur.begin < prev.end && cur.end > cur.begin)
      throw fail(`data_offsets [${cur.begin}, ${cur.end}] overlap those of '${prev.key}'`, cur.key);
  }
  for (const e of entries) {
    e.begin += dataStart;
    e.end += dataStart;
  }
  return { entries, metadata };
}

export async function readSafetensorsFile(path: string): Promise<TensorMap> {
  return readSafetensors(await readWholeFile(path), path);
}

export async function readSafetensorsFileWithMetadata(path: string): Promise<SafetensorsContents> {
  return readSafetensorsWithMetadata(await readWholeFile(path), path);
}

/** A tensor to write: values in C order, stored in the file as `dtype` (half types are rounded). */
export type WritableTensor = Pick<RawTensor, 'dtype' | 'shape' | 'data'>;

/**
 * Serialise tensors (in map order) to safetensors bytes. The header is padded with spaces to a
 * multiple of 8 bytes, as the reference writer does, so the data section stays aligned.
 */
export function writeSafetensors(
  tensors: Map<string, WritableTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header['__metadata__'] = { ...metadata };
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of tensors) {
    if (key === '__metadata__') throw checkpointError(undefined, 'the key __metadata__ is reserved', key);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length)
      throw checkpointError(
        undefined,
        `shape ${JSON.stringify(t.shape)} has ${numel} elements but data has ${t.data.length}`,
        key,
      );
    const name = DTYPE_NAMES[t.dtype];
    if (!name) throw checkpointError(undefined, `cannot write dtype '${String(t.dtype)}'`, key);
    const blob = encodeElements(t.data, t.dtype);
    header[key] = { dtype: name, shape: [...t.shape], data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  let json = JSON.stringify(header);
  const jsonBytesLen = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + jsonBytesLen) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

/** Write a safetensors file atomically (temporary file in the same directory, then rename). */
export async function writeSafetensorsFile(
  path: string,
  tensors: Map<string, WritableTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, writeSafetensors(tensors, metadata));
  await rename(tmp, path);
}
