/**
 * What a Python global means to our unpickler. Every name a tensor checkpoint legitimately uses is
 * interpreted here by hand (building inert records, never running code). In strict mode anything
 * else is refused by name; in opaque mode it becomes a placeholder PyGlobal/PyObject.
 *
 * Allowed (interpreted):
 *   collections.OrderedDict, builtins/__builtin__ set, frozenset, copyreg._reconstructor (for classes
 *   that are themselves allowed), torch._utils._rebuild_tensor(_v2), _rebuild_parameter(_with_state),
 *   torch._tensor._rebuild_from_type_v2 (plain Tensor/Parameter only), torch.storage._load_from_bytes
 *   (nested torch.save bytes inside plain pickles), torch.Size, torch.device, numpy scalars and
 *   dtypes (numpy.core.multiarray.scalar / numpy._core.multiarray.scalar, numpy.dtype), _codecs.encode
 *   (protocol-2 bytes), Lightning AttributeDict, argparse.Namespace.
 * Allowed as references only (may appear as values or dict keys, never called):
 *   torch.*Storage types, torch dtype objects (torch.float32, ...), torch.Tensor,
 *   torch.nn.parameter.Parameter, numpy.ndarray, Lightning callback classes (Lightning 1.x keys the
 *   `callbacks` dict by class).
 */
import type { CheckpointDType } from './types.js';
import {
  PyDict,
  PyGlobal,
  PyObject,
  PySet,
  PyTensor,
  PyTuple,
  asNumber,
  asSequence,
  describe,
} from './pyvalues.js';
import type { PyValue } from './pyvalues.js';
import { PyStorage } from './pyvalues.js';

export interface GlobalContext {
  opaque: boolean;
  /** Raise an error that names the file. */
  fail(message: string): Error;
  /** torch.storage._load_from_bytes: parse nested torch.save bytes. */
  loadFromBytes?: (bytes: Uint8Array) => PyValue;
}

/** torch storage class names -> element dtype. */
export const STORAGE_DTYPES: Record<string, CheckpointDType> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};

const TORCH_DTYPES: Record<string, CheckpointDType> = {
  float64: 'float64',
  double: 'float64',
  float32: 'float32',
  float: 'float32',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  int16: 'int16',
  short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

type Handler = (args: PyValue[], ctx: GlobalContext, self: PyGlobal) => PyValue;

function tensorFrom(args: PyValue[], ctx: GlobalContext, isParameter = false): PyTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof PyStorage))
    throw ctx.fail(`tensor rebuild expected a storage, got ${describe(storage)}`);
  const shape = asSequence(size)?.map((d) => asNumber(d) ?? NaN);
  const strides = asSequence(stride)?.map((d) => asNumber(d) ?? NaN);
  const off = asNumber(offset);
  if (!shape || !strides || off === undefined || shape.some(Number.isNaN) || strides.some(Number.isNaN))
    throw ctx.fail('tensor rebuild has a malformed offset, size or stride');
  if (shape.length !== strides.length)
    throw ctx.fail(
      `tensor size ${JSON.stringify(shape)} and stride ${JSON.stringify(strides)} differ in rank`,
    );
  return new PyTensor(storage, off, shape, strides, requiresGrad === true, isParameter);
}

function parameterFrom(args: PyValue[], ctx: GlobalContext): PyTensor {
  const t = args[0];
  if (!(t instanceof PyTensor)) throw ctx.fail(`_rebuild_parameter expected a tensor, got ${describe(t)}`);
  return new PyTensor(t.storage, t.offset, t.shape, t.stride, args[1] === true, true);
}

function orderedDict(args: PyValue[], ctx: GlobalContext): PyDict {
  const d = new PyDict('collections.OrderedDict');
  const pairs = args.length > 0 ? asSequence(args[0]) : [];
  if (!pairs) throw ctx.fail(`OrderedDict called with ${describe(args[0])}`);
  for (const p of pairs) {
    const kv = asSequence(p);
    if (!kv || kv.length !== 2) throw ctx.fail('OrderedDict item is not a pair');
    d.map.set(kv[0] as PyValue, kv[1] as PyValue);
  }
  return d;
}

function makeSet(frozen: boolean): Handler {
  return (args, ctx) => {
    const s = new PySet(frozen);
    const items = args.length > 0 ? asSequence(args[0]) : [];
    if (!items) throw ctx.fail(`set called with ${describe(args[0])}`);
    s.items.push(...items);
    return s;
  };
}

/** numpy.dtype('f8', False, True): the type code is args[0]; BUILD later adds byte order. */
function numpyScalar(args: PyValue[], ctx: GlobalContext): PyValue {
  const [dtype, raw] = args;
  if (!(dtype instanceof PyObject) || typeof dtype.args[0] !== 'string' || !(raw instanceof Uint8Array))
    throw ctx.fail('numpy scalar with an unexpected dtype or payload');
  const code = dtype.args[0];
  const state = asSequence(dtype.state);
  const little = !state || state[1] !== '>';
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const need = Number(code.slice(1));
  if (raw.length < need) throw ctx.fail(`numpy scalar of type ${code} has ${raw.length} bytes`);
  switch (code) {
    case 'f8':
      return dv.getFloat64(0, little);
    case 'f4':
      return dv.getFloat32(0, little);
    case 'i8': {
      const v = dv.getBigInt64(0, little);
      return Number.isSafeInteger(Number(v)) ? Number(v) : v;
    }
    case 'u8': {
      const v = dv.getBigUint64(0, little);
      return Number.isSafeInteger(Number(v)) ? Number(v) : v;
    }
    case 'i4':
      return dv.getInt32(0, little);
    case 'u4':
      return dv.getUint32(0, little);
    case 'i2':
      return dv.getInt16(0, little);
    case 'u2':
      return dv.getUint16(0, little);
    case 'i1':
      return dv.getInt8(0);
    case 'u1':
      return dv.getUint8(0);
    case 'b1':
      return dv.getUint8(0) !== 0;
    default:
      throw ctx.fail(`numpy scalar of unsupported type '${code}'`);
  }
}

const plainObject: Handler = (args, _ctx, self) => new PyObject(self, args);
const attributeDict: Handler = (_args, _ctx, self) => new PyDict(self.qualified);

const CALLABLE: Record<string, Handler> = {
  'collections.OrderedDict': orderedDict,
  'builtins.set': makeSet(false),
  '__builtin__.set': makeSet(false),
  'builtins.frozenset': makeSet(true),
  '__builtin__.frozenset': makeSet(true),
  'torch._utils._rebuild_tensor': (a, c) => tensorFrom(a, c),
  'torch._utils._rebuild_tensor_v2': (a, c) => tensorFrom(a, c),
  'torch._utils._rebuild_parameter': parameterFrom,
  'torch._utils._rebuild_parameter_with_state': parameterFrom,
  'torch._tensor._rebuild_from_type_v2': (args, ctx) => {
    const [func, type, inner] = args;
    if (!(func instanceof PyGlobal) || !(type instanceof PyGlobal))
      throw ctx.fail('malformed _rebuild_from_type_v2');
    if (type.qualified !== 'torch.Tensor' && type.qualified !== 'torch.nn.parameter.Parameter')
      throw ctx.fail(`refusing tensor subclass '${type.qualified}'`);
    return callGlobal(func, asSequence(inner) ?? [], ctx);
  },
  'torch.storage._load_from_bytes': (args, ctx) => {
    const raw = args[0];
    if (!(raw instanceof Uint8Array) || !ctx.loadFromBytes)
      throw ctx.fail('cannot load nested torch.save bytes here');
    return ctx.loadFromBytes(raw);
  },
  'torch.Size': (args) => new PyTuple(asSequence(args[0]) ?? []),
  'torch.device': (args) => args.map((a) => String(a)).join(':'),
  '_codecs.encode': (args, ctx) => {
    const [text, encoding] = args;
    if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1'))
      throw ctx.fail('_codecs.encode is only supported for latin1 bytes');
    return Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 0xff);
  },
  'numpy.dtype': plainObject,
  'numpy.core.multiarray.scalar': numpyScalar,
  'numpy._core.multiarray.scalar': numpyScalar,
  // ndarray pickles as _reconstruct(ndarray, (0,), b'b') + BUILD(state): kept as an inert record.
  'numpy.core.multiarray._reconstruct': (args, _ctx) => new PyObject(new PyGlobal('numpy', 'ndarray'), args),
  'numpy._core.multiarray._reconstruct': (args, _ctx) => new PyObject(new PyGlobal('numpy', 'ndarray'), args),
  'pytorch_lightning.utilities.parsing.AttributeDict': attributeDict,
  'lightning_fabric.utilities.data.AttributeDict': attributeDict,
  'lightning.fabric.utilities.data.AttributeDict': attributeDict,
  'argparse.Namespace': plainObject,
  'copyreg._reconstructor': (args, ctx) => reconstructor(args, ctx),
  'copy_reg._reconstructor': (args, ctx) => reconstructor(args, ctx),
};

function reconstructor(args: PyValue[], ctx: GlobalContext): PyValue {
  const cls = args[0];
  if (!(cls instanceof PyGlobal)) throw ctx.fail(`copyreg._reconstructor of ${describe(cls)}`);
  return newObject(cls, [], ctx);
}

function isReferenceOnly(module: string, name: string): boolean {
  if (module === 'torch' && (name in STORAGE_DTYPES || name in TORCH_DTYPES || name === 'Tensor'))
    return true;
  if (module === 'torch.storage' && name === 'UntypedStorage') return true;
  if (module === 'torch.nn.parameter' && name === 'Parameter') return true;
  if (module === 'numpy' && name === 'ndarray') return true;
  if ((module === 'builtins' || module === '__builtin__') && name === 'object') return true; // copyreg._reconstructor's base
  return /^(pytorch_lightning|lightning\.pytorch)\.callbacks(\.|$)/.test(module);
}

/** Resolve GLOBAL / STACK_GLOBAL. Strict mode refuses names that are neither interpreted nor reference-only. */
export function resolveGlobal(module: string, name: string, ctx: GlobalContext): PyGlobal {
  const q = `${module}.${name}`;
  if (!(q in CALLABLE) && !isReferenceOnly(module, name) && !ctx.opaque)
    throw ctx.fail(
      `refusing to unpickle global '${q}' (not on the allow-list for tensor checkpoints; ` +
        'whole-object pickles such as EDM snapshots need the opaque mode, which never calls it)',
    );
  return new PyGlobal(module, name);
}

/** REDUCE: call `fn(*args)`, interpreted for allowed names, a placeholder in opaque mode. */
export function callGlobal(fn: PyValue, args: PyValue[], ctx: GlobalContext): PyValue {
  if (!(fn instanceof PyGlobal)) {
    if (ctx.opaque) return new PyObject(new PyGlobal('<unknown>', describe(fn)), args);
    throw ctx.fail(`pickle calls ${describe(fn)}, which is not a global`);
  }
  const handler = CALLABLE[fn.qualified];
  if (handler) return handler(args, ctx, fn);
  if (ctx.opaque) return new PyObject(fn, args);
  throw ctx.fail(`refusing to call global '${fn.qualified}'`);
}

/** NEWOBJ / NEWOBJ_EX / copyreg._reconstructor: `cls.__new__(cls, *args)`. */
export function newObject(
  cls: PyValue,
  args: PyValue[],
  ctx: GlobalContext,
  kwargs: PyDict | null = null,
): PyValue {
  if (cls instanceof PyGlobal) {
    const q = cls.qualified;
    if (q === 'collections.OrderedDict' || q.endsWith('.AttributeDict')) return new PyDict(q);
    if (q === 'argparse.Namespace') return new PyObject(cls, args, kwargs);
    if (q === 'builtins.object') return new PyObject(cls, args, kwargs);
    if (ctx.opaque) return new PyObject(cls, args, kwargs);
    throw ctx.fail(`refusing to instantiate global '${q}'`);
  }
  if (ctx.opaque) return new PyObject(new PyGlobal('<unknown>', describe(cls)), args, kwargs);
  throw ctx.fail(`NEWOBJ on ${describe(cls)}, which is not a class`);
}

/** BUILD: set an object's state. Only records; a dict's attribute state and tensor states are dropped. */
export function buildObject(target: PyValue, state: PyValue, ctx: GlobalContext): void {
  if (target instanceof PyObject) {
    target.state = state;
    return;
  }
  if (target instanceof PyDict || target instanceof PyTensor) return;
  if (ctx.opaque) return;
  throw ctx.fail(`BUILD on ${describe(target)}`);
}

/** torch.float32 etc. as a global -> element dtype. */
export function torchDTypeOf(g: PyGlobal): CheckpointDType | undefined {
  return g.module === 'torch' ? TORCH_DTYPES[g.name] : undefined;
}
