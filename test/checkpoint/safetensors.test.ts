import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  readSafetensors,
  readSafetensorsFile,
  readSafetensorsFileWithMetadata,
  writeSafetensors,
} from '../../src/checkpoint/safetensors.js';
import type { WritableTensor } from '../../src/checkpoint/safetensors.js';
import { CheckpointError } from '../../src/checkpoint/errors.js';
import type { RawTensor } from '../../src/checkpoint/types.js';
import { assertSameValues, assertTensorMapsEqual, fixture } from './helpers.js';

const I32_MAX = 2147483647;
const I32_MIN = -2147483648;

test('reads a Python-written safetensors file of every dtype exactly as PyTorch converts it', async () => {
  const { tensors, metadata } = await readSafetensorsFileWithMetadata(fixture('basic_dtypes.safetensors'));
  const expected = await readSafetensorsFile(fixture('basic_expected.safetensors'));
  assert.deepEqual(metadata, { made_by: 'checkpoint_fixtures.py' });
  const dtypes = Object.fromEntries([...tensors].map(([k, v]) => [k, v.dtype]));
  assert.equal(dtypes['f16'], 'float16');
  assert.equal(dtypes['bf16'], 'bfloat16');
  assert.equal(dtypes['f64'], 'float64');
  assert.equal(dtypes['flag'], 'bool');
  assertTensorMapsEqual(tensors, expected, 'basic_dtypes');
  // int64 beyond the int32 range is clamped (documented), checked against literals.
  assert.deepEqual(
    [...(tensors.get('i64') as RawTensor).data],
    [0, -1, I32_MAX, I32_MIN, 5, I32_MAX, I32_MIN],
  );
  assert.ok((tensors.get('i64') as RawTensor).data instanceof Int32Array);
  assert.ok((tensors.get('u8') as RawTensor).data instanceof Uint8Array);
});

test('write -> read round trip keeps every dtype, shape, order and metadata', async () => {
  const src = await readSafetensorsFile(fixture('basic_dtypes.safetensors'));
  const bytes = writeSafetensors(src, { note: 'round trip' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0, 'data section is 8-byte aligned');
  const back = readSafetensors(bytes, 'roundtrip');
  assert.deepEqual([...back.keys()], [...src.keys()]);
  for (const [k, v] of src) {
    assert.equal((back.get(k) as RawTensor).dtype, v.dtype);
    assertSameValues(back.get(k) as RawTensor, v, k);
  }
});

test('writing rounds float32 data to the stored half type', () => {
  const t = new Map<string, WritableTensor>([
    ['h', { dtype: 'float16', shape: [3], data: Float32Array.of(1 + 2 ** -11, 1e-8, 1e6) }],
  ]);
  const back = readSafetensors(writeSafetensors(t)).get('h') as RawTensor;
  // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even mantissa wins; 1e-8 underflows to 0; 1e6 overflows.
  assert.deepEqual([...back.data], [1, 0, Infinity]);
});

/** A file with a hand-made header, to exercise validation. */
function withHeader(header: unknown, dataBytes: number, declaredLen?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLen ?? json.length), true);
  out.set(json, 8);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => readSafetensors(bytes, 'bad.safetensors'),
    (e: unknown) =>
      e instanceof CheckpointError && /^bad\.safetensors/.test(e.message) && pattern.test(e.message),
  );
}

test('malformed files are rejected with the file, the key and the reason', async () => {
  const good = await readFile(fixture('basic_dtypes.safetensors'));
  rejects(good.subarray(0, 5), /too short/);
  rejects(withHeader({}, 0, 1 << 20), /header length 1048576 runs past the end/);
  rejects(good.subarray(0, 200), /runs past the end of the file/);
  rejects(withHeader('{"a": [', 0), /not valid JSON/);
  rejects(withHeader('[1]', 0), /not an object/);
  rejects(
    withHeader({ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, 1),
    /key 'w'.*unsupported dtype "F8_E4M3"/,
  );
  rejects(
    withHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 4),
    /key 'w'.*run past the data section/,
  );
  rejects(
    withHeader({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
    /key 'w'.*needs 12 bytes but data_offsets span 8/,
  );
  rejects(withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /key 'w'.*non-negative/);
  rejects(
    withHeader(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      12,
    ),
    /key 'b'.*overlap those of 'a'/,
  );
  rejects(withHeader({ __metadata__: { n: 1 } }, 0), /__metadata__ value for 'n' is not a string/);
});
