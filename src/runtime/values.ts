/**
 * Values on edges: how to serialise them for the stage cache and how to free them. A value is a
 * tree of plain JSON, tfjs tensors and measurement operators (rebuilt from their spec); anything
 * else (a loaded model) is not cacheable, and its node declares `cache: false`.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasurementOperator, OperatorSpec } from '../physics/operator.js';

export interface EncodedTensor {
  dtype: 'float32' | 'int32' | 'bool';
  shape: number[];
  offset: number;
  byteLength: number;
}

export interface EncodedValues {
  /** JSON tree with `{ $tensor: i }` and `{ $operator: spec-with-tensor-refs }` placeholders. */
  tree: unknown;
  tensors: EncodedTensor[];
  /** All tensor bytes, concatenated (little-endian, as the platform's typed arrays). */
  payload: Buffer;
}

export class NotCacheableError extends Error {}

export function isTensor(v: unknown): v is tf.Tensor {
  return v instanceof tf.Tensor;
}

export function isOperator(v: unknown): v is MeasurementOperator {
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as MeasurementOperator).toSpec === 'function' &&
    typeof (v as MeasurementOperator).forward === 'function'
  );
}

/** Serialise a record of port values. Throws NotCacheableError for values that are not data. */
export async function encodeValues(values: Record<string, unknown>): Promise<EncodedValues> {
  const chunks: Buffer[] = [];
  const tensors: EncodedTensor[] = [];
  let offset = 0;
  const addTensor = async (t: tf.Tensor): Promise<{ $tensor: number }> => {
    const data = await t.data();
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const dtype = t.dtype === 'int32' ? 'int32' : t.dtype === 'bool' ? 'bool' : 'float32';
    if (t.dtype !== dtype) throw new NotCacheableError(`tensor dtype ${t.dtype} is not cacheable`);
    tensors.push({ dtype, shape: [...t.shape], offset, byteLength: bytes.byteLength });
    chunks.push(Buffer.from(bytes));
    offset += bytes.byteLength;
    return { $tensor: tensors.length - 1 };
  };
  const walk = async (v: unknown): Promise<unknown> => {
    if (isTensor(v)) return addTensor(v);
    if (isOperator(v)) {
      const spec = v.toSpec();
      const refs: Record<string, unknown> = {};
      for (const [k, t] of Object.entries(spec.tensors)) refs[k] = await addTensor(t);
      return { $operator: { kind: spec.kind, params: spec.params, tensors: refs } };
    }
    if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
    if (v === undefined) return { $undefined: true };
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = await walk(x);
      return out;
    }
    throw new NotCacheableError(`value of type ${Object.prototype.toString.call(v)} is not cacheable`);
  };
  const tree = await walk(values);
  return { tree, tensors, payload: Buffer.concat(chunks) };
}

/** Rebuild port values from their encoding (new tensors, owned by the caller). */
export async function decodeValues(enc: EncodedValues): Promise<Record<string, unknown>> {
  const { operatorFromSpec } = await import('../physics/registry.js');
  const made: tf.Tensor[] = [];
  const tensorAt = (i: number): tf.Tensor => {
    const d = enc.tensors[i];
    if (!d) throw new Error(`cache entry refers to missing tensor ${i}`);
    const slice = enc.payload.subarray(d.offset, d.offset + d.byteLength);
    const copy = new Uint8Array(slice); // aligned copy
    const data =
      d.dtype === 'int32'
        ? new Int32Array(copy.buffer)
        : d.dtype === 'bool'
          ? copy
          : new Float32Array(copy.buffer);
    const t = tf.tensor(data, d.shape, d.dtype);
    made.push(t);
    return t;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$tensor === 'number') return tensorAt(o.$tensor);
      if (o.$undefined === true) return undefined;
      if (o.$operator && typeof o.$operator === 'object') {
        const s = o.$operator as {
          kind: string;
          params: Record<string, unknown>;
          tensors: Record<string, unknown>;
        };
        const tensors: Record<string, tf.Tensor> = {};
        for (const [k, ref] of Object.entries(s.tensors)) tensors[k] = walk(ref) as tf.Tensor;
        const spec: OperatorSpec = { kind: s.kind, params: s.params, tensors };
        const op = operatorFromSpec(spec);
        // The operator copies what it needs; free the spec's tensors unless it kept them.
        for (const t of Object.values(tensors)) if (!ownedBy(op, t)) t.dispose();
        return op;
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  try {
    return walk(enc.tree) as Record<string, unknown>;
  } catch (e) {
    for (const t of made) if (!t.isDisposed) t.dispose();
    throw e;
  }
}

function ownedBy(op: MeasurementOperator, t: tf.Tensor): boolean {
  const spec = op.toSpec();
  return Object.values(spec.tensors).includes(t);
}

/** Free every tensor, operator or disposable object inside a value. */
export function disposeValue(v: unknown, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (isTensor(v)) {
    if (!v.isDisposed) v.dispose();
    return;
  }
  if (isOperator(v)) {
    v.dispose();
    return;
  }
  if (typeof (v as { dispose?: unknown }).dispose === 'function') {
    (v as { dispose: () => void }).dispose();
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) disposeValue(x, seen);
    return;
  }
  if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) disposeValue(x, seen);
}

/** Every tensor inside a value (to tell the runtime which tensors a node's outputs hold). */
export function tensorsIn(v: unknown, out: tf.Tensor[] = [], seen = new Set<unknown>()): tf.Tensor[] {
  if (v === null || typeof v !== 'object' || seen.has(v)) return out;
  seen.add(v);
  if (isTensor(v)) out.push(v);
  else if (isOperator(v)) out.push(...Object.values(v.toSpec().tensors));
  else if (Array.isArray(v)) for (const x of v) tensorsIn(x, out, seen);
  else if (Object.getPrototypeOf(v) === Object.prototype)
    for (const x of Object.values(v)) tensorsIn(x, out, seen);
  return out;
}
