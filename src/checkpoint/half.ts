/**
 * IEEE half precision (float16) and bfloat16 conversions to and from float32, bit-exact.
 * Encoding rounds to nearest, ties to even (what PyTorch's `.half()` / `.bfloat16()` do), keeps
 * infinities, turns NaN into a quiet NaN of the same sign, and produces subnormals where needed.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

let halfTable: Float32Array | undefined;

/** float16 bits -> float32 value (exact: every half is representable in float32). */
export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Lookup table over all 65536 half bit patterns, built on first use (256 KB). */
function table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfBitsToFloat(h);
  }
  return halfTable;
}

/** Decode an array of float16 bit patterns. */
export function decodeFloat16(bits: Uint16Array): Float32Array {
  const t = table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i] as number] as number;
  return out;
}

/** float32 value -> float16 bits, round to nearest even. */
export function floatToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0); // inf / NaN
  const e = exp - 127 + 15; // rebiased exponent
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    // Result is subnormal (or zero) in half: shift the full significand into place and round.
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000; // implicit leading one
    const shift = 14 - e; // 14..24
    const halfM = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const roundUp = rem > halfway || (rem === halfway && (halfM & 1) === 1);
    return sign | (halfM + (roundUp ? 1 : 0)); // a carry into the exponent field is still correct
  }
  const halfM = mant >>> 13;
  const rem = mant & 0x1fff;
  let bits = sign | (e << 10) | halfM;
  if (rem > 0x1000 || (rem === 0x1000 && (halfM & 1) === 1)) bits += 1; // carry may make it inf: correct
  return bits;
}

/** Encode float32 values as float16 bit patterns. */
export function encodeFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalfBits(values[i] as number);
  return out;
}

/** Decode bfloat16 bit patterns: they are the upper 16 bits of a float32. */
export function decodeBFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = (bits[i] as number) << 16;
  return out;
}

/** float32 value -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function floatToBFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  const lsb = (x >>> 16) & 1;
  return ((x + 0x7fff + lsb) >>> 16) & 0xffff;
}

export function encodeBFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToBFloat16Bits(values[i] as number);
  return out;
}
