/**
 * Reader for IDX files, the container of the MNIST family of datasets (Fashion-MNIST included).
 *
 * Layout (big-endian): two zero bytes, one type byte, one byte giving the number of dimensions n,
 * then n unsigned 32-bit sizes, then the values in C order. Files are often gzipped: a gzip
 * header (1f 8b) is detected and inflated with node:zlib. Every problem is reported as one line
 * naming the file.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { ImageIOError, firstLine } from './errors.js';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** Type byte -> element type and size in bytes. */
const IDX_TYPES: ReadonlyMap<number, { dtype: IdxDtype; bytes: number }> = new Map([
  [0x08, { dtype: 'uint8', bytes: 1 }],
  [0x09, { dtype: 'int8', bytes: 1 }],
  [0x0b, { dtype: 'int16', bytes: 2 }],
  [0x0c, { dtype: 'int32', bytes: 4 }],
  [0x0d, { dtype: 'float32', bytes: 4 }],
  [0x0e, { dtype: 'float64', bytes: 8 }],
]);

export interface IdxArray {
  dtype: IdxDtype;
  /** Sizes of the dimensions, outermost first (e.g. [10000, 28, 28]). */
  dims: number[];
  /** The values in C order, as plain numbers' typed array of the file's element type. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

export class IdxError extends ImageIOError {
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(path, `IDX file '${path}': ${problem}`, options);
    this.name = 'IdxError';
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parse IDX bytes (gzipped or not). `path` only names the source in error messages. */
export function parseIdx(input: Uint8Array, path = '<bytes>'): IdxArray {
  let bytes = input;
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new IdxError(path, `corrupt gzip data (${firstLine(e)})`, { cause: e });
    }
  }
  if (bytes.length < 4) throw new IdxError(path, `too short for a header (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxError(path, 'bad magic number (the first two bytes must be zero)');
  }
  const type = IDX_TYPES.get(bytes[2] as number);
  if (!type) throw new IdxError(path, `unknown element type 0x${(bytes[2] as number).toString(16)}`);
  const ndim = bytes[3] as number;
  if (ndim === 0) throw new IdxError(path, 'zero dimensions');
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) throw new IdxError(path, `truncated header (${ndim} dimensions)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = headerBytes + count * type.bytes;
  if (bytes.length !== expected) {
    throw new IdxError(
      path,
      `dimensions [${dims.join(', ')}] need ${expected} bytes but the file holds ${bytes.length}`,
    );
  }
  return { dtype: type.dtype, dims, data: readValues(view, headerBytes, count, type.dtype) };
}

function readValues(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxArray['data'] {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int8':
      return new Int8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/** Read and parse an IDX file (gzipped or not). */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new IdxError(path, `cannot read (${firstLine(e)})`, { cause: e });
  }
  return parseIdx(bytes, path);
}

/** Encode an array as IDX bytes (uncompressed): used by tests and fixture tools. */
export function encodeIdx(dtype: IdxDtype, dims: readonly number[], values: ArrayLike<number>): Uint8Array {
  const entry = [...IDX_TYPES.entries()].find(([, t]) => t.dtype === dtype);
  if (!entry) throw new Error(`unknown IDX dtype ${dtype}`);
  const [code, { bytes: size }] = entry;
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count)
    throw new Error(`IDX encode: ${values.length} values for dims [${dims.join(', ')}]`);
  const out = new Uint8Array(4 + 4 * dims.length + count * size);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const base = 4 + 4 * dims.length;
  for (let i = 0; i < count; i++) {
    const v = values[i] as number;
    const at = base + i * size;
    if (dtype === 'uint8') view.setUint8(at, v);
    else if (dtype === 'int8') view.setInt8(at, v);
    else if (dtype === 'int16') view.setInt16(at, v, false);
    else if (dtype === 'int32') view.setInt32(at, v, false);
    else if (dtype === 'float32') view.setFloat32(at, v, false);
    else view.setFloat64(at, v, false);
  }
  return out;
}
