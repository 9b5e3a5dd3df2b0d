/**
 * Turning unpickled values into named RawTensors: walk the object graph collecting every tensor
 * with its attribute path, then copy each strided view out of its storage in C order.
 */
import { checkpointError } from './errors.js';
import { ITEM_SIZE, decodeElements } from './dtypes.js';
import { PyDict, PyGlobal, PyObject, PySet, PyStorage, PyTensor, PyTuple } from './pyvalues.js';
import type { PyValue } from './pyvalues.js';
import type { RawTensor } from './types.js';

/** Largest tensor we decode (elements): beyond it a typed array could not be allocated anyway. */
const MAX_ELEMENTS = 2 ** 32 - 1;

/** nn.Module bookkeeping dicts whose names are not part of state_dict keys. */
const TRANSPARENT_KEYS = new Set(['_parameters', '_buffers', '_modules']);

export type ScalarLeaf = number | string | boolean | null;

export interface Walked {
  tensors: Array<[string, PyTensor]>;
  /** Non-tensor leaves (numbers, short strings, booleans, None) by path. */
  values: Array<[string, ScalarLeaf]>;
}

function keyName(k: PyValue): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  if (k instanceof PyGlobal) return k.qualified;
  if (k instanceof PyTuple) return k.items.map(keyName).join(',');
  return '?';
}

const join = (path: string, seg: string) => (path === '' ? seg : seg === '' ? path : `${path}.${seg}`);

/**
 * Collect tensors and scalar leaves under `root`. Dict keys and list indices become path segments;
 * `_parameters`/`_buffers`/`_modules` and placeholder-object wrappers are transparent, so a pickled
 * nn.Module yields its state_dict names. EDM's persistence records ({module_src, class_name, state})
 * contribute only their `state`. Cycles are cut; shared tensors appear under every path.
 */
export function walkTensors(root: PyValue, maxValues = 2000): Walked {
  const out: Walked = { tensors: [], values: [] };
  const ancestors = new Set<object>();
  const visit = (v: PyValue, path: string): void => {
    if (v instanceof PyTensor) {
      out.tensors.push([path, v]);
      return;
    }
    if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') {
      if (out.values.length < maxValues && (typeof v !== 'string' || v.length <= 200))
        out.values.push([path, v]);
      return;
    }
    if (typeof v === 'bigint') {
      if (out.values.length < maxValues) out.values.push([path, Number(v)]);
      return;
    }
    if (typeof v !== 'object' || v instanceof Uint8Array || v instanceof PyGlobal || v instanceof PyStorage)
      return;
    if (ancestors.has(v)) return;
    ancestors.add(v);
    if (Array.isArray(v) || v instanceof PyTuple) {
      const items = Array.isArray(v) ? v : v.items;
      items.forEach((item, i) => visit(item, join(path, String(i))));
    } else if (v instanceof PyDict) {
      visitDict(v.map, path);
    } else if (v instanceof PyObject) {
      if (v.cls.qualified !== 'numpy.ndarray') {
        if (v.args.length === 1) visit(v.args[0] as PyValue, path);
        else v.args.forEach((a, i) => visit(a, join(path, `arg${i}`)));
        const state = v.state instanceof PyTuple ? v.state.items : [v.state];
        for (const s of state) if (s !== null) visit(s, path);
        visitDict(v.dictItems, path);
        v.listItems.forEach((item, i) => visit(item, join(path, String(i))));
      }
    }
    ancestors.delete(v);
  };
  const visitDict = (map: Map<PyValue, PyValue>, path: string): void => {
    if (map.has('module_src') && map.has('class_name') && map.has('state')) {
      visit(map.get('state') as PyValue, path);
      return;
    }
    // A pickled nn.Module's __dict__: buffers registered with persistent=False are not part of
    // its state_dict, so they are left out here too.
    const nonPersistent = map.get('_non_persistent_buffers_set');
    const skipBuffers = new Set(nonPersistent instanceof PySet ? nonPersistent.items.map(keyName) : []);
    for (const [k, item] of map) {
      const seg = keyName(k);
      if (seg === '_buffers' && skipBuffers.size > 0 && item instanceof PyDict) {
        for (const [bk, buffer] of item.map)
          if (!skipBuffers.has(keyName(bk))) visit(buffer, join(path, keyName(bk)));
        continue;
      }
      visit(item, TRANSPARENT_KEYS.has(seg) ? path : join(path, seg));
    }
  };
  visit(root, '');
  return out;
}

/** Copy one tensor view out of its storage, in C order. */
export function materialize(t: PyTensor, source: string | undefined, key: string): RawTensor {
  const storage = t.storage.root ?? t.storage;
  const base = t.storage.root ? t.storage.elementOffset : 0;
  const bytes = storage.data();
  if (!bytes) throw checkpointError(source, `storage '${storage.key}' has no data in the file`, key);
  const item = ITEM_SIZE[storage.dtype];
  const storageNumel = Math.floor(bytes.length / item);
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.shape.some((d) => d < 0 || !Number.isInteger(d)) || t.stride.some((s) => !Number.isInteger(s)))
    throw checkpointError(
      source,
      `invalid shape ${JSON.stringify(t.shape)} / stride ${JSON.stringify(t.stride)}`,
      key,
    );
  const first = base + t.offset;
  let last = first;
  let lowest = first;
  t.shape.forEach((d, i) => {
    const s = t.stride[i] as number;
    if (d > 0) {
      if (s >= 0) last += (d - 1) * s;
      else lowest += (d - 1) * s;
    }
  });
  if (numel > 0 && (lowest < 0 || last >= storageNumel))
    throw checkpointError(
      source,
      `view (offset ${t.offset}, shape ${JSON.stringify(t.shape)}, stride ${JSON.stringify(t.stride)}) ` +
        `reaches outside storage '${storage.key}' of ${storageNumel} elements`,
      key,
    );
  if (numel > MAX_ELEMENTS)
    throw checkpointError(
      source,
      `tensor of shape ${JSON.stringify(t.shape)} is too large to materialise`,
      key,
    );
  const shape = [...t.shape];
  if (numel === 0) return { dtype: storage.dtype, shape, data: decodeElements(bytes, 0, 0, storage.dtype) };
  let contiguous = true;
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if ((shape[i] as number) !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= shape[i] as number;
  }
  if (contiguous)
    return { dtype: storage.dtype, shape, data: decodeElements(bytes, first * item, numel, storage.dtype) };
  // Non-contiguous view (transpose, strided slice, expand): decode the span it touches, then gather.
  const span = decodeElements(bytes, lowest * item, last - lowest + 1, storage.dtype);
  const data = new (span.constructor as new (n: number) => typeof span)(numel);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = first - lowest;
  for (let n = 0; n < numel; n++) {
    data[n] = span[at] as number;
    for (let d = rank - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      at += t.stride[d] as number;
      if ((index[d] as number) < (shape[d] as number)) break;
      at -= (shape[d] as number) * (t.stride[d] as number);
      index[d] = 0;
    }
  }
  return { dtype: storage.dtype, shape, data };
}
