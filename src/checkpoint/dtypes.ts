/**
 * Element decoding shared by every checkpoint format: little-endian raw bytes of one dtype ->
 * the widened arrays of a RawTensor (floats -> Float32Array, int64/int32/int16/int8 -> Int32Array,
 * uint8/bool -> Uint8Array), and the reverse for writing.
 */
import type { CheckpointDType, RawTensor } from './types.js';
import { decodeBFloat16, decodeFloat16, encodeBFloat16, encodeFloat16 } from './half.js';

export const ITEM_SIZE: Record<CheckpointDType, number> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function isFloatDType(d: CheckpointDType): boolean {
  return d === 'float64' || d === 'float32' || d === 'float16' || d === 'bfloat16';
}

/** Copy `count` elements starting at `byteOffset` into a fresh, aligned ArrayBuffer. */
function aligned(bytes: Uint8Array, byteOffset: number, byteLength: number): ArrayBuffer {
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(byteOffset, byteOffset + byteLength));
  return copy.buffer;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decode `count` consecutive little-endian elements. The caller has checked the byte range.
 * int64 values outside the int32 range are clamped (they only occur in bookkeeping tensors
 * such as step counters, never in weights).
 */
export function decodeElements(
  bytes: Uint8Array,
  byteOffset: number,
  count: number,
  dtype: CheckpointDType,
): RawTensor['data'] {
  if (!LITTLE_ENDIAN) throw new Error('checkpoint decoding assumes a little-endian host');
  const n = count * ITEM_SIZE[dtype];
  switch (dtype) {
    case 'float32':
      return new Float32Array(aligned(bytes, byteOffset, n));
    case 'float64':
      return Float32Array.from(new Float64Array(aligned(bytes, byteOffset, n)));
    case 'float16':
      return decodeFloat16(new Uint16Array(aligned(bytes, byteOffset, n)));
    case 'bfloat16':
      return decodeBFloat16(new Uint16Array(aligned(bytes, byteOffset, n)));
    case 'int32':
      return new Int32Array(aligned(bytes, byteOffset, n));
    case 'int16':
      return Int32Array.from(new Int16Array(aligned(bytes, byteOffset, n)));
    case 'int8':
      return Int32Array.from(new Int8Array(aligned(bytes, byteOffset, n)));
    case 'uint8':
      return new Uint8Array(aligned(bytes, byteOffset, n));
    case 'bool': {
      const out = new Uint8Array(aligned(bytes, byteOffset, n));
      for (let i = 0; i < out.length; i++) out[i] = out[i] ? 1 : 0;
      return out;
    }
    case 'int64': {
      const words = new Int32Array(aligned(bytes, byteOffset, n));
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = words[2 * i] as number;
        const hi = words[2 * i + 1] as number;
        // In range iff the high word is the sign extension of the low word.
        if ((hi === 0 && lo >= 0) || (hi === -1 && lo < 0)) out[i] = lo;
        else out[i] = hi < 0 ? -2147483648 : 2147483647;
      }
      return out;
    }
  }
}

/** Encode widened values back into little-endian bytes of `dtype` (rounding for half types). */
export function encodeElements(data: RawTensor['data'], dtype: CheckpointDType): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error('checkpoint encoding assumes a little-endian host');
  let view: ArrayBufferView;
  switch (dtype) {
    case 'float32':
      view = data instanceof Float32Array ? data : Float32Array.from(data);
      break;
    case 'float64':
      view = Float64Array.from(data);
      break;
    case 'float16':
      view = encodeFloat16(data);
      break;
    case 'bfloat16':
      view = encodeBFloat16(data);
      break;
    case 'int32':
      view = data instanceof Int32Array ? data : Int32Array.from(data, truncInt);
      break;
    case 'int16':
      view = Int16Array.from(data, truncInt);
      break;
    case 'int8':
      view = Int8Array.from(data, truncInt);
      break;
    case 'uint8':
      view = Uint8Array.from(data, truncInt);
      break;
    case 'bool':
      view = Uint8Array.from(data, (v) => (v ? 1 : 0));
      break;
    case 'int64': {
      const words = new Int32Array(data.length * 2);
      for (let i = 0; i < data.length; i++) {
        const v = truncInt(data[i] as number);
        words[2 * i] = v;
        words[2 * i + 1] = v < 0 ? -1 : 0;
      }
      view = words;
      break;
    }
  }
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function truncInt(v: number): number {
  return Math.trunc(v);
}
