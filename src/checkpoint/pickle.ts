/**
 * A restricted unpickler for the pickles torch.save / pickle.dump produce (protocols 0-5 opcodes).
 * It is an interpreter over inert values (see pyvalues.ts): globals are resolved by name against
 * an allow-list (pickle-globals.ts) and never imported or called, so a malicious pickle can at
 * worst be refused. `opaque: true` turns unknown globals into placeholder records instead of
 * errors, for whole-object pickles (EDM network snapshots) whose tensors we then find by walking.
 */
import { checkpointError } from './errors.js';
import { buildObject, callGlobal, newObject, resolveGlobal } from './pickle-globals.js';
import type { GlobalContext } from './pickle-globals.js';
import { PyDict, PyObject, PySet, PyTuple, describe } from './pyvalues.js';
import type { PyValue } from './pyvalues.js';

export interface UnpickleOptions {
  /** File name used in error messages. */
  source?: string;
  /** Turn unknown globals into inert placeholders instead of refusing them. Default false. */
  opaque?: boolean;
  /** BINPERSID / PERSID: torch's storage references. Without it a persistent id is an error. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** torch.storage._load_from_bytes: nested torch.save bytes (plain pickles of tensors). */
  loadFromBytes?: (bytes: Uint8Array) => PyValue;
}

const MARK = Symbol('mark');

/** Bytes as code points 0-255 (TextDecoder's 'latin1' is really windows-1252, which differs at 0x80-0x9f). */
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}
type Slot = PyValue | typeof MARK;

/** Unpickle one pickle at `offset`; returns the value and the offset just past its STOP. */
export function unpickleAt(
  bytes: Uint8Array,
  offset: number,
  options: UnpickleOptions = {},
): { value: PyValue; end: number } {
  const source = options.source;
  let pos = offset;
  const fail = (msg: string) => checkpointError(source, `pickle (byte ${pos}): ${msg}`);
  const ctx: GlobalContext = {
    opaque: options.opaque === true,
    fail,
    ...(options.loadFromBytes ? { loadFromBytes: options.loadFromBytes } : {}),
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();

  const need = (n: number) => {
    if (pos + n > bytes.length) throw fail(`truncated: needs ${n} more bytes but the data ends`);
  };
  const u8 = () => {
    need(1);
    return bytes[pos++] as number;
  };
  const u16 = () => {
    need(2);
    pos += 2;
    return dv.getUint16(pos - 2, true);
  };
  const u32 = () => {
    need(4);
    pos += 4;
    return dv.getUint32(pos - 4, true);
  };
  const i32 = () => {
    need(4);
    pos += 4;
    return dv.getInt32(pos - 4, true);
  };
  const u64 = () => {
    need(8);
    pos += 8;
    const v = dv.getBigUint64(pos - 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`length ${v} is too large`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    pos += n;
    return bytes.slice(pos - n, pos);
  };
  const utf8 = (n: number) => new TextDecoder().decode(take(n));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw fail('truncated: unterminated text line');
    const s = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw fail('stack underflow');
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw fail('stack underflow');
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw fail('MARK missing');
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const push = (v: PyValue) => stack.push(v);
  const getMemo = (i: number) => {
    const v = memo.get(i);
    if (v === undefined) throw fail(`memo entry ${i} is missing`);
    return v;
  };
  const intFrom = (v: bigint): number | bigint => (Number.isSafeInteger(Number(v)) ? Number(v) : v);
  const longLE = (raw: Uint8Array): number | bigint => {
    let v = 0n;
    for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i] as number);
    if (raw.length > 0 && ((raw[raw.length - 1] as number) & 0x80) !== 0) v -= 1n << BigInt(8 * raw.length);
    return intFrom(v);
  };
  const setItems = (target: PyValue, items: PyValue[]) => {
    if (items.length % 2 !== 0) throw fail('SETITEMS with an odd number of items');
    const map =
      target instanceof PyDict ? target.map : target instanceof PyObject ? target.dictItems : undefined;
    if (!map) throw fail(`SETITEM on ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) map.set(items[i] as PyValue, items[i + 1] as PyValue);
  };
  const appendItems = (target: PyValue, items: PyValue[]) => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.listItems.push(...items);
    else throw fail(`APPEND on ${describe(target)}`);
  };
  const textInt = (s: string): PyValue => {
    if (s === '00') return false;
    if (s === '01') return true;
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[-+]?\d+$/.test(t)) throw fail(`bad integer literal '${s}'`);
    return intFrom(BigInt(t));
  };
  const textString = (s: string): string => {
    const q = s[0];
    if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) throw fail('bad STRING literal');
    return s.slice(1, -1);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME (length is advisory)
        u64();
        break;
      case 0x2e: {
        // STOP
        const value = pop();
        return { value, end: pos };
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack.pop() === undefined) throw fail('stack underflow');
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(longLE(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) throw fail('negative LONG4 length');
        push(longLE(take(n)));
        break;
      }
      case 0x49: // INT
        push(textInt(line()));
        break;
      case 0x4c: // LONG
        push(textInt(line()));
        break;
      case 0x46: // FLOAT
        push(Number(line()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        pos += 8;
        push(dv.getFloat64(pos - 8, false));
        break;
      case 0x58: // BINUNICODE
        push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8(u64()));
        break;
      case 0x56: // UNICODE: raw-unicode-escape (latin1 bytes plus \uXXXX / \UXXXXXXXX escapes)
        push(
          line().replace(
            /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
            (_m, u: string | undefined, w: string | undefined) =>
              String.fromCodePoint(parseInt(u ?? w ?? '0', 16)),
          ),
        );
        break;
      case 0x53: // STRING
        push(textString(line()));
        break;
      case 0x54: // BINSTRING: Python 2 str, decoded as latin1 like torch.load's default
        push(latin1(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        push(latin1(take(u8())));
        break;
      case 0x42: // BINBYTES
        push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
        push(take(u64()));
        break;
      case 0x96: // BYTEARRAY8
        push(take(u64()));
        break;
      case 0x97: // NEXT_BUFFER
        throw fail('out-of-band buffers (NEXT_BUFFER) are not supported');
      case 0x98: // READONLY_BUFFER
        break;
      case 0x7d: // EMPTY_DICT
        push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new PySet());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet)) throw fail(`ADDITEMS on ${describe(s)}`);
        s.items.push(...items);
        break;
      }
      case 0x91: {
        // FROZENSET
        const s = new PySet(true);
        s.items.push(...popMark());
        push(s);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
        push(getMemo(Number(line())));
        break;
      case 0x68: // BINGET
        push(getMemo(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(getMemo(u32()));
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        push(resolveGlobal(module, line(), ctx));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw fail('STACK_GLOBAL needs two strings');
        push(resolveGlobal(module, name, ctx));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof PyTuple)) throw fail(`REDUCE arguments are ${describe(args)}, not a tuple`);
        push(callGlobal(fn, args.items, ctx));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!(args instanceof PyTuple)) throw fail('NEWOBJ arguments are not a tuple');
        push(newObject(cls, args.items, ctx));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(args instanceof PyTuple) || !(kwargs instanceof PyDict)) throw fail('malformed NEWOBJ_EX');
        push(newObject(cls, args.items, ctx, kwargs));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args... OBJ
        const items = popMark();
        const cls = items.shift();
        push(newObject(cls ?? null, items, ctx));
        break;
      }
      case 0x69: {
        // INST "module\nname\n": MARK args... INST
        const module = line();
        const cls = resolveGlobal(module, line(), ctx);
        push(newObject(cls, popMark(), ctx));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        buildObject(top(), state, ctx);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) throw fail('persistent id found but this container defines none');
        push(options.persistentLoad(pid));
        break;
      }
      case 0x50: {
        // PERSID
        const pid = line();
        if (!options.persistentLoad) throw fail('persistent id found but this container defines none');
        push(options.persistentLoad(pid));
        break;
      }
      case 0x82:
      case 0x83:
      case 0x84:
        throw fail('extension registry opcodes (EXT1/2/4) are not supported');
      default:
        throw fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

/** Unpickle the pickle at the start of `bytes` (bytes after its STOP are ignored). */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PyValue {
  return unpickleAt(bytes, 0, options).value;
}
