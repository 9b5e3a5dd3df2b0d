/**
 * PyTorch checkpoint files without Python: the zip format torch.save writes since 1.6, the legacy
 * format (`_use_new_zipfile_serialization=False`), and plain pickles (pickle.dump of tensors or, in
 * opaque mode, of whole objects such as EDM network snapshots). Tensors come back by flattened
 * path; see walkTensors for the naming rules.
 */
import { readWholeFile } from './file.js';
import { checkpointError } from './errors.js';
import { ITEM_SIZE } from './dtypes.js';
import { materialize, walkTensors } from './materialize.js';
import type { ScalarLeaf } from './materialize.js';
import { unpickleAt } from './pickle.js';
import type { UnpickleOptions } from './pickle.js';
import { STORAGE_DTYPES } from './pickle-globals.js';
import { PyDict, PyGlobal, PyStorage, PyTensor, asNumber, asSequence, describe } from './pyvalues.js';
import type { PyValue } from './pyvalues.js';
import type { CheckpointDType, TensorMap } from './types.js';
import { ZipArchive, isZip } from './zip.js';

export type TorchFormat = 'torch-zip' | 'torch-legacy' | 'pickle';

export interface TorchReadOptions {
  /** Name used in errors (defaults to the path, or '<bytes>'). */
  source?: string;
  /** Whole-object pickles: unknown globals become inert placeholders (never called). Default false. */
  opaque?: boolean;
  /**
   * Which part of the unpickled object to take tensors from: 'auto' (default) uses the `state_dict`
   * entry of a Lightning-style checkpoint when there is one and everything otherwise; 'all' takes
   * every tensor (optimizer state too); any other string is a dotted path to a sub-dict.
   */
  root?: string;
}

export interface TorchCheckpointMeta {
  format: TorchFormat;
  source: string;
  /** The path tensors were taken from ('' = the whole object). */
  root: string;
  /** Keys of the top-level dict, when the file holds a dict. */
  topLevelKeys: string[];
  /** Scalar leaves outside tensors (e.g. global_step, epoch) by dotted path. */
  values: Record<string, ScalarLeaf>;
  /** Tensors present in the file but outside `root` (optimizer state etc.), not decoded. */
  skippedTensors: number;
  /** Zip archives: contents of `version` and `byteorder` records when present. */
  version?: string;
  byteorder?: string;
}

export interface TorchCheckpoint {
  tensors: TensorMap;
  meta: TorchCheckpointMeta;
}

/** torch's legacy-format magic number, pickled as the first object. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function storageFromPid(
  pid: PyValue,
  source: string | undefined,
  storages: Map<string, PyStorage>,
): PyStorage {
  const parts = asSequence(pid);
  if (!parts || parts[0] !== 'storage')
    throw checkpointError(
      source,
      `unexpected persistent id ${describe(pid)} (only torch storages are supported)`,
    );
  const [, type, key, location, size, view] = parts;
  // torch.FloatStorage etc. (torch.UntypedStorage / torch.storage.UntypedStorage hold bytes).
  const dtype = type instanceof PyGlobal ? STORAGE_DTYPES[type.name] : undefined;
  if (!dtype) throw checkpointError(source, `unsupported storage type ${describe(type)}`);
  const numel = asNumber(size);
  if (typeof key !== 'string' || numel === undefined)
    throw checkpointError(source, 'malformed storage reference');
  let root = storages.get(key);
  if (!root) {
    root = new PyStorage(key, dtype, numel, String(location));
    storages.set(key, root);
  }
  const viewParts = asSequence(view ?? undefined);
  if (viewParts) {
    // Legacy storage view: (view_key, element offset, element count) into the root storage.
    const [viewKey, offset, viewSize] = viewParts;
    return new PyStorage(
      String(viewKey),
      dtype,
      asNumber(viewSize) ?? 0,
      String(location),
      root,
      asNumber(offset) ?? 0,
    );
  }
  return root;
}

interface Unpickled {
  value: PyValue;
  format: TorchFormat;
  version?: string;
  byteorder?: string;
}

/** data.pkl holds the object structure only (tensor bytes live in data/): real ones are a few MB. */
const MAX_PICKLE_BYTES = 256 * 2 ** 20;

function readZip(bytes: Uint8Array, opts: UnpickleOptions): Unpickled {
  const source = opts.source;
  const zip = new ZipArchive(bytes, source);
  const pkl = [...zip.entries.keys()].find((n) => n.endsWith('data.pkl') && n.split('/').length === 2);
  if (!pkl) throw checkpointError(source, 'zip archive has no <name>/data.pkl: not a torch.save file');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const text = (name: string) =>
    zip.entries.has(prefix + name)
      ? new TextDecoder().decode(zip.read(prefix + name, true, { bytes: 1024, what: 'a text record' })).trim()
      : undefined;
  const byteorder = text('byteorder');
  if (byteorder !== undefined && byteorder !== 'little')
    throw checkpointError(
      source,
      `byteorder '${byteorder}' is not supported (only little-endian checkpoints)`,
    );
  const version = text('version');
  const storages = new Map<string, PyStorage>();
  const value = unpickleAt(zip.read(pkl, true, { bytes: MAX_PICKLE_BYTES, what: 'a pickle' }), 0, {
    ...opts,
    persistentLoad: (pid) => {
      const s = storageFromPid(pid, source, storages);
      const root = s.root ?? s;
      if (!root.bytes && !root.loader) {
        const name = `${prefix}data/${root.key}`;
        if (!zip.entries.has(name))
          throw checkpointError(source, `storage entry '${name}' is missing from the archive`);
        const storage = root;
        storage.loader = () => {
          const bytes = zip.read(name);
          if (bytes.length < storage.numel * ITEM_SIZE[storage.dtype])
            throw checkpointError(
              source,
              `storage '${storage.key}' holds ${bytes.length} bytes, fewer than its ${storage.numel} elements need`,
            );
          return bytes;
        };
      }
      return s;
    },
  }).value;
  return {
    value,
    format: 'torch-zip',
    ...(version !== undefined ? { version } : {}),
    ...(byteorder ? { byteorder } : {}),
  };
}

/** The rest of a legacy file, given its first pickle (the magic number) ending at `magic.end`. */
function readLegacy(bytes: Uint8Array, magic: { end: number }, opts: UnpickleOptions): Unpickled {
  const source = opts.source;
  const protocol = unpickleAt(bytes, magic.end, opts);
  if (protocol.value !== 1001)
    throw checkpointError(source, `legacy torch file: unsupported protocol ${describe(protocol.value)}`);
  const sysInfo = unpickleAt(bytes, protocol.end, opts);
  if (sysInfo.value instanceof PyDict && sysInfo.value.get('little_endian') === false)
    throw checkpointError(source, 'legacy torch file written on a big-endian machine: not supported');
  const storages = new Map<string, PyStorage>();
  const main = unpickleAt(bytes, sysInfo.end, {
    ...opts,
    persistentLoad: (pid) => storageFromPid(pid, source, storages),
  });
  const keysPickle = unpickleAt(bytes, main.end, opts);
  const keys = asSequence(keysPickle.value);
  if (!keys) throw checkpointError(source, 'legacy torch file: storage key list missing');
  let pos = keysPickle.end;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys) {
    const storage = storages.get(String(k));
    if (!storage) throw checkpointError(source, `legacy torch file lists unknown storage '${String(k)}'`);
    if (pos + 8 > bytes.length)
      throw checkpointError(source, `legacy torch file truncated before storage '${storage.key}'`);
    const numel = Number(dv.getBigInt64(pos, true));
    const n = numel * ITEM_SIZE[storage.dtype];
    if (numel !== storage.numel)
      throw checkpointError(
        source,
        `storage '${storage.key}' records ${numel} elements, its reference says ${storage.numel}`,
      );
    if (pos + 8 + n > bytes.length)
      throw checkpointError(
        source,
        `legacy torch file truncated inside storage '${storage.key}' (needs ${n} bytes)`,
      );
    storage.bytes = bytes.subarray(pos + 8, pos + 8 + n);
    pos += 8 + n;
  }
  return { value: main.value, format: 'torch-legacy' };
}

/** Parse torch.save bytes (zip or legacy) or a plain pickle into an inert value graph. */
export function unpickleTorch(bytes: Uint8Array, options: TorchReadOptions = {}): Unpickled {
  const opts: UnpickleOptions = {
    ...(options.source !== undefined ? { source: options.source } : {}),
    opaque: options.opaque === true,
    // Plain pickles of tensors embed each storage as nested legacy torch.save bytes.
    loadFromBytes: (nested) =>
      unpickleTorch(nested, { ...options, source: `${options.source ?? '<bytes>'} (nested storage)` }).value,
  };
  if (isZip(bytes)) return readZip(bytes, opts);
  if (bytes.length > 1 && bytes[0] === 0x80) {
    // A legacy torch file is a sequence of pickles starting with the magic number (at whatever
    // pickle protocol it was saved); anything else is one plain pickle, already fully read here.
    const first = unpickleAt(bytes, 0, opts);
    if (first.value === LEGACY_MAGIC) return readLegacy(bytes, first, opts);
    return { value: first.value, format: 'pickle' };
  }
  throw checkpointError(options.source, 'not a torch checkpoint (neither a zip archive nor a pickle)');
}

function subtree(value: PyValue, path: string, source: string | undefined): PyValue {
  let v = value;
  for (const seg of path.split('.')) {
    if (!(v instanceof PyDict) || !v.map.has(seg))
      throw checkpointError(source, `root path '${path}' not found`);
    v = v.map.get(seg) as PyValue;
  }
  return v;
}

/** A tensor found in a checkpoint, not yet decoded. */
export interface TorchTensorEntry {
  key: string;
  dtype: CheckpointDType;
  shape: number[];
  view: PyTensor;
}

export interface TorchScan {
  entries: TorchTensorEntry[];
  meta: TorchCheckpointMeta;
}

/** Parse a checkpoint and list its tensors (under `root`) without decoding any tensor data. */
export async function scanTorchCheckpoint(
  input: Uint8Array | string,
  options: TorchReadOptions = {},
): Promise<TorchScan> {
  const source = options.source ?? (typeof input === 'string' ? input : '<bytes>');
  const bytes = typeof input === 'string' ? await readWholeFile(input) : input;
  const parsed = unpickleTorch(bytes, { ...options, source });
  const top = parsed.value;
  const topLevelKeys = top instanceof PyDict ? [...top.map.keys()].map((k) => String(k)) : [];
  let rootPath = options.root ?? 'auto';
  if (rootPath === 'auto')
    rootPath = top instanceof PyDict && top.get('state_dict') instanceof PyDict ? 'state_dict' : '';
  if (rootPath === 'all') rootPath = '';
  let all: ReturnType<typeof walkTensors>;
  let chosen: ReturnType<typeof walkTensors>;
  try {
    all = walkTensors(top);
    chosen = rootPath === '' ? all : walkTensors(subtree(top, rootPath, source));
  } catch (e) {
    if (e instanceof RangeError)
      throw checkpointError(source, `object graph is nested too deeply to walk (${e.message})`);
    throw e;
  }
  const values: Record<string, ScalarLeaf> = {};
  for (const [k, v] of all.values) values[k] = v;
  const meta: TorchCheckpointMeta = {
    format: parsed.format,
    source,
    root: rootPath,
    topLevelKeys,
    values,
    skippedTensors: all.tensors.length - chosen.tensors.length,
    ...(parsed.version !== undefined ? { version: parsed.version } : {}),
    ...(parsed.byteorder !== undefined ? { byteorder: parsed.byteorder } : {}),
  };
  const entries = chosen.tensors.map(([key, view]) => ({
    key,
    dtype: (view.storage.root ?? view.storage).dtype,
    shape: [...view.shape],
    view,
  }));
  return { entries, meta };
}

/** Read a torch checkpoint from bytes or a file path, decoding every tensor under `root`. */
export async function readTorchCheckpoint(
  input: Uint8Array | string,
  options: TorchReadOptions = {},
): Promise<TorchCheckpoint> {
  const { entries, meta } = await scanTorchCheckpoint(input, options);
  const tensors: TensorMap = new Map();
  for (const e of entries) tensors.set(e.key, materialize(e.view, meta.source, e.key));
  return { tensors, meta };
}
