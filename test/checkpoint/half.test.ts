import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeBFloat16,
  decodeFloat16,
  encodeBFloat16,
  encodeFloat16,
  halfBitsToFloat,
  floatToHalfBits,
} from '../../src/checkpoint/half.js';
import { readSafetensorsFile } from '../../src/checkpoint/safetensors.js';
import type { RawTensor } from '../../src/checkpoint/types.js';
import { fixture } from './helpers.js';

// half_conversion.safetensors: 3100 float32 inputs (specials, subnormal range, overflow edge, exact
// ties) with the bit patterns PyTorch 1.13's .half() / .bfloat16() produce and their .float() values.
const file = await readSafetensorsFile(fixture('half_conversion.safetensors'));
const input = (file.get('input') as RawTensor).data as Float32Array;
const bits = (name: string) =>
  Uint16Array.from((file.get(name) as RawTensor).data as Int32Array, (v) => v & 0xffff);

function compareBits(
  ours: Uint16Array,
  torch: Uint16Array,
  isNaN: (b: number) => boolean,
  what: string,
): void {
  let checked = 0;
  for (let i = 0; i < ours.length; i++) {
    const o = ours[i] as number;
    const t = torch[i] as number;
    if (isNaN(t)) {
      // NaN payloads are not specified (torch canonicalises); NaN must stay NaN.
      assert.ok(isNaN(o), `${what}: input ${input[i]} should give NaN, got 0x${o.toString(16)}`);
      continue;
    }
    if (o !== t) assert.fail(`${what}: input ${input[i]} -> 0x${o.toString(16)}, torch 0x${t.toString(16)}`);
    checked++;
  }
  assert.ok(checked > 3000, `${what}: ${checked} non-NaN values compared`);
}

test('float32 -> float16 rounding matches PyTorch bit for bit (ties, subnormals, overflow to inf)', () => {
  compareBits(
    encodeFloat16(input),
    bits('f16_bits'),
    (b) => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0,
    'f16',
  );
});

test('float32 -> bfloat16 rounding matches PyTorch bit for bit', () => {
  compareBits(
    encodeBFloat16(input),
    bits('bf16_bits'),
    (b) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0,
    'bf16',
  );
});

test('float16 and bfloat16 decoding matches PyTorch .float() exactly', () => {
  for (const [name, decode] of [
    ['f16', decodeFloat16],
    ['bf16', decodeBFloat16],
  ] as const) {
    const ours = decode(bits(`${name}_bits`));
    const torch = (file.get(`${name}_back`) as RawTensor).data as Float32Array;
    for (let i = 0; i < ours.length; i++)
      if (!Object.is(ours[i], torch[i])) assert.fail(`${name}[${i}]: ${ours[i]} vs torch ${torch[i]}`);
  }
});

test('every non-NaN float16 bit pattern survives decode -> encode', () => {
  for (let h = 0; h < 65536; h++) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    const back = floatToHalfBits(halfBitsToFloat(h));
    if (isNaN) assert.ok(Number.isNaN(halfBitsToFloat(h)));
    else if (back !== h)
      assert.fail(`0x${h.toString(16)} -> ${halfBitsToFloat(h)} -> 0x${back.toString(16)}`);
  }
  // Closed forms: smallest subnormal, largest finite, smallest normal.
  assert.equal(halfBitsToFloat(0x0001), 2 ** -24);
  assert.equal(halfBitsToFloat(0x7bff), 65504);
  assert.equal(halfBitsToFloat(0x0400), 2 ** -14);
});
