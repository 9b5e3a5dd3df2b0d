import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { unpickle } from '../../src/checkpoint/pickle.js';
import { PyDict, PyObject, PySet, PyTuple } from '../../src/checkpoint/pyvalues.js';
import type { PyValue } from '../../src/checkpoint/pyvalues.js';
import { fixture } from './helpers.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The same JSON encoding checkpoint_fixtures.py uses for Python values. */
function toJson(v: PyValue): Json {
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number') return v;
  if (typeof v === 'bigint') return { __int__: v.toString() };
  if (v instanceof Uint8Array) return { __bytes__: [...v] };
  if (v instanceof PyTuple) return { __tuple__: v.items.map(toJson) };
  if (v instanceof PySet) return { __set__: v.items.map(toJson) };
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof PyDict) return Object.fromEntries([...v.map].map(([k, x]) => [String(k), toJson(x)]));
  throw new Error(`unexpected value ${String(v)}`);
}

const expected = JSON.parse(await readFile(fixture('values.json'), 'utf8')) as Json;

for (let proto = 0; proto <= 5; proto++) {
  test(`pickle protocol ${proto}: plain values decode exactly as Python pickled them`, async () => {
    const value = unpickle(new Uint8Array(await readFile(fixture(`values_p${proto}.pkl`))), {
      source: `p${proto}`,
    });
    assert.deepEqual(toJson(value), expected);
    // Memoised objects stay shared, as in Python.
    const shared = (value as PyDict).get('shared') as PyValue[];
    assert.equal(shared[0], shared[1]);
    assert.equal(((value as PyDict).get('od') as PyDict).className, 'collections.OrderedDict');
  });
}

/** Hand-assembled pickles for opcodes and refusals the fixtures do not reach. */
const bytesOf = (...parts: Array<number | string>) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p].map((c) => c.charCodeAt(0)))));

test('GLOBAL and STACK_GLOBAL outside the allow-list are refused before anything else happens', () => {
  // protocol 2: GLOBAL 'subprocess\nPopen\n', then REDUCE would follow
  const global = bytesOf(0x80, 2, 'c', 'subprocess\nPopen\n', ')', 'R', '.');
  assert.throws(
    () => unpickle(global, { source: 'g.pkl' }),
    /g\.pkl.*refusing to unpickle global 'subprocess\.Popen'/,
  );
  // protocol 4: STACK_GLOBAL from two short strings
  const stack = bytesOf(0x80, 4, 0x8c, 2, 'os', 0x8c, 6, 'system', 0x93, '.');
  assert.throws(() => unpickle(stack, { source: 's.pkl' }), /refusing to unpickle global 'os\.system'/);
  // opaque mode: the call becomes an inert record of what would have been called
  const obj = unpickle(bytesOf(0x80, 2, 'c', 'os\nsystem\n', 'X', 2, 0, 0, 0, 'rm', 0x85, 'R', '.'), {
    opaque: true,
  });
  assert.ok(obj instanceof PyObject);
  assert.equal(obj.cls.qualified, 'os.system');
  assert.deepEqual(obj.args, ['rm']);
});

test('allowed globals are refused when used in a way they never are in checkpoints', () => {
  // torch.FloatStorage is allowed as a reference (persistent ids) but must not be called.
  const call = bytesOf(0x80, 2, 'c', 'torch\nFloatStorage\n', ')', 'R', '.');
  assert.throws(() => unpickle(call), /refusing to call global 'torch\.FloatStorage'/);
  // A persistent id with no container to resolve it.
  assert.throws(() => unpickle(bytesOf(0x80, 2, 'N', 'Q', '.')), /persistent id/);
});

test('malformed pickles fail with the byte position', () => {
  assert.throws(() => unpickle(bytesOf(0x80, 2, 'K')), /truncated/);
  assert.throws(() => unpickle(bytesOf(0x80, 2, 0xff)), /unknown opcode 0xff/);
  assert.throws(() => unpickle(bytesOf(0x80, 2, 'h', 5, '.')), /memo entry 5 is missing/);
  assert.throws(() => unpickle(bytesOf(0x80, 2, 's', '.')), /stack underflow/);
});
