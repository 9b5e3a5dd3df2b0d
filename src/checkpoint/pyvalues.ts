/**
 * The values our unpickler builds. Nothing here is ever executed: Python objects become plain
 * records (module/name, arguments, state) and tensors stay references into storages until the
 * container format (zip or legacy torch file) supplies the bytes.
 */
import type { CheckpointDType } from './types.js';

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyGlobal
  | PyObject
  | PyTensor
  | PyStorage;

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A dict, OrderedDict or dict subclass (AttributeDict); `className` records which. */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
  constructor(readonly className = 'builtins.dict') {}
  get(key: string): PyValue | undefined {
    return this.map.get(key);
  }
}

export class PySet {
  readonly items: PyValue[] = [];
  constructor(readonly frozen = false) {}
}

/** A reference to a Python global (class or function) by name; never resolved to code. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An inert stand-in for an object the pickle would construct by calling `cls` (a placeholder in
 * opaque mode, or an allowed plain-data class such as argparse.Namespace). Records what the call
 * would have received and the state BUILD would have set; list/dict items of subclasses too.
 */
export class PyObject {
  state: PyValue = null;
  readonly listItems: PyValue[] = [];
  readonly dictItems = new Map<PyValue, PyValue>();
  constructor(
    readonly cls: PyGlobal,
    readonly args: PyValue[],
    readonly kwargs: PyDict | null = null,
  ) {}
}

/**
 * A storage: a flat run of elements of one dtype, identified by its key in the container file.
 * `bytes` is filled by the container reader (possibly after unpickling, in the legacy format).
 * `elementOffset` is non-zero only for legacy storage views into a larger root storage.
 */
export class PyStorage {
  bytes: Uint8Array | undefined = undefined;
  /** Deferred source of `bytes` (zip entries are only read, and CRC-checked, when a tensor needs them). */
  loader: (() => Uint8Array) | undefined = undefined;
  /** The storage's bytes, loading them on first use. */
  data(): Uint8Array | undefined {
    if (!this.bytes && this.loader) {
      this.bytes = this.loader();
      this.loader = undefined;
    }
    return this.bytes;
  }
  constructor(
    readonly key: string,
    readonly dtype: CheckpointDType,
    readonly numel: number,
    readonly location: string,
    readonly root: PyStorage | null = null,
    readonly elementOffset = 0,
  ) {}
}

/** A strided view into a storage, as torch._utils._rebuild_tensor_v2 describes it. */
export class PyTensor {
  constructor(
    readonly storage: PyStorage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad = false,
    readonly isParameter = false,
  ) {}
}

/** Numbers from ints (possibly bigint) and floats alike. */
export function asNumber(v: PyValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

/** The items of a tuple or list, or undefined. */
export function asSequence(v: PyValue | undefined): PyValue[] | undefined {
  if (v instanceof PyTuple) return v.items;
  if (Array.isArray(v)) return v;
  return undefined;
}

/** A short human description of a value, for error messages. */
export function describe(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 40) + '...' : v}'`;
  if (typeof v !== 'object') return String(v);
  if (v instanceof Uint8Array) return `bytes[${v.length}]`;
  if (Array.isArray(v)) return `list[${v.length}]`;
  if (v instanceof PyTuple) return `tuple[${v.items.length}]`;
  if (v instanceof PyDict) return `${v.className}[${v.map.size}]`;
  if (v instanceof PyGlobal) return `global ${v.qualified}`;
  if (v instanceof PyObject) return `object ${v.cls.qualified}`;
  if (v instanceof PyTensor) return `tensor ${JSON.stringify(v.shape)}`;
  if (v instanceof PyStorage) return `storage '${v.key}'`;
  return 'set';
}
