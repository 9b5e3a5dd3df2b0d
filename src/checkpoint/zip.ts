/**
 * A minimal read-only ZIP reader for torch.save archives: end-of-central-directory (with zip64),
 * central directory, local headers, stored and deflated entries, CRC-32 verification. Entries are
 * read lazily so a large checkpoint is only decoded where tensors are actually used.
 */
import { inflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';
import { checkpointError } from './errors.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

/**
 * Deflate cannot expand more than about 1032:1 (258 bytes per 2-bit code at best), so a larger
 * declared size is a lie (a zip bomb or a corrupt file) and is refused from the headers alone.
 */
const MAX_DEFLATE_RATIO = 1032;

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

export function isZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
  );
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dv: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source?: string,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  private fail(msg: string, key?: string): Error {
    return checkpointError(this.source, `zip: ${msg}`, key);
  }

  private u64(at: number): number {
    const v = this.dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`64-bit field ${v} is too large`);
    return Number(v);
  }

  private readCentralDirectory(): void {
    const b = this.bytes;
    const dv = this.dv;
    let eocd = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
      if (dv.getUint32(i, true) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw this.fail('no end-of-central-directory record (file truncated or not a zip)');
    let count = dv.getUint16(eocd + 10, true);
    let cdSize = dv.getUint32(eocd + 12, true);
    let cdOffset = dv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || dv.getUint32(loc, true) !== ZIP64_LOCATOR_SIG) throw this.fail('zip64 locator missing');
      const rec = this.u64(loc + 8);
      if (rec + 56 > b.length || dv.getUint32(rec, true) !== ZIP64_EOCD_SIG)
        throw this.fail('zip64 record missing');
      count = this.u64(rec + 32);
      cdSize = this.u64(rec + 40);
      cdOffset = this.u64(rec + 48);
    }
    if (cdOffset + cdSize > b.length)
      throw this.fail('central directory lies beyond the end of the file (truncated?)');
    let p = cdOffset;
    for (let n = 0; n < count; n++) {
      if (p + 46 > b.length || dv.getUint32(p, true) !== CENTRAL_SIG)
        throw this.fail(`central directory entry ${n} is corrupt`);
      const method = dv.getUint16(p + 10, true);
      const crc = dv.getUint32(p + 16, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      let localHeaderOffset = dv.getUint32(p + 42, true);
      const name = new TextDecoder().decode(b.subarray(p + 46, p + 46 + nameLen));
      // zip64 extended information: only the fields saturated in the fixed record, in this order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = dv.getUint16(e, true);
        const len = dv.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) {
            size = this.u64(q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = this.u64(q);
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(q);
        }
        e += 4 + len;
      }
      if (method === 8 && size > compressedSize * MAX_DEFLATE_RATIO + 64)
        throw this.fail(
          `entry '${name}' declares ${size} bytes from ${compressedSize} compressed: more than deflate can produce (a zip bomb or a corrupt file)`,
        );
      if (method === 0 && size !== compressedSize)
        throw this.fail(`entry '${name}' is stored but declares ${size} bytes in ${compressedSize}`);
      this.entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
      p = extraEnd + commentLen;
    }
  }

  /**
   * Entry bytes (a view without copying for stored entries), CRC-checked unless `verify` is false.
   * `maxSize` bounds what the entry may declare, checked before anything is inflated.
   */
  read(name: string, verify = true, maxSize?: { bytes: number; what: string }): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw this.fail('no such entry', name);
    if (maxSize && entry.size > maxSize.bytes)
      throw this.fail(
        `entry '${name}' declares ${entry.size} bytes, more than the ${maxSize.bytes} ${maxSize.what} may have`,
      );
    const dv = this.dv;
    const at = entry.localHeaderOffset;
    if (at + 30 > this.bytes.length || dv.getUint32(at, true) !== LOCAL_SIG)
      throw this.fail('local header is missing or corrupt (truncated file?)', name);
    const start = at + 30 + dv.getUint16(at + 26, true) + dv.getUint16(at + 28, true);
    const end = start + entry.compressedSize;
    if (end > this.bytes.length)
      throw this.fail('entry data runs past the end of the file (truncated?)', name);
    const raw = this.bytes.subarray(start, end);
    let data: Uint8Array;
    if (entry.method === 0) data = raw;
    else if (entry.method === 8) {
      try {
        // Bounded by the recorded size, so a forged entry cannot inflate without limit.
        const out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
        data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength); // no second copy
      } catch (err) {
        throw this.fail(`deflate data is corrupt (${(err as Error).message})`, name);
      }
    } else throw this.fail(`unsupported compression method ${entry.method}`, name);
    if (data.length !== entry.size)
      throw this.fail(`size ${data.length} differs from the recorded ${entry.size}`, name);
    if (verify && crc32(data) >>> 0 !== entry.crc32)
      throw this.fail(
        `CRC-32 mismatch (stored ${entry.crc32.toString(16)}, computed ${(crc32(data) >>> 0).toString(16)})`,
        name,
      );
    return data;
  }
}
