/**
 * CRC-32 (IEEE): zlib's when the running Node has it (20.15 and later), else a table-driven
 * version, so that the CLI starts on every Node the package's `engines` allows.
 */
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function crc32Table(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

export function crc32Fallback(bytes: Uint8Array): number {
  const t = crc32Table();
  let c = 0xffffffff;
  for (const b of bytes) c = (t[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export function crc32(bytes: Uint8Array): number {
  return native ? native(bytes) >>> 0 : crc32Fallback(bytes);
}
