/**
 * Zip bombs in .ckpt files: an entry that declares more than deflate can produce from its
 * compressed bytes, or a pickle beyond a sane size, is refused from the headers alone, before
 * anything is inflated (memory stays flat); honest archives still read (test/checkpoint/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { readCheckpoint } from '../../src/checkpoint/read.js';
import { crc32 } from '../../src/checkpoint/crc32.js';

interface Member {
  name: string;
  data: Uint8Array;
  /** Declared uncompressed size (forged when it differs from the real one). */
  size: number;
}

/** A minimal zip (deflated members, no zip64) with the declared sizes we choose. */
function zip(members: Member[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(0, 14);
    local.writeUInt32LE(m.data.length, 18);
    local.writeUInt32LE(m.size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(0, 16);
    central.writeUInt32LE(m.data.length, 20);
    central.writeUInt32LE(m.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(m.data));
    centrals.push(central, name);
    offset += 30 + name.length + m.data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(members.length, 8);
  eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, eocd]));
}

async function refusal(bytes: Uint8Array): Promise<{ message: string; grownMb: number }> {
  const before = process.memoryUsage().rss;
  try {
    await readCheckpoint(bytes, { source: 'bomb.ckpt' });
  } catch (e) {
    return { message: (e as Error).message, grownMb: (process.memoryUsage().rss - before) / 2 ** 20 };
  }
  assert.fail('the archive was read');
}

test('a 1 MB data.pkl declaring 1 GiB is refused before inflating', async () => {
  const data = deflateRawSync(Buffer.alloc(1 << 20, 7)); // ~1 KB of real deflate data
  const padded = Buffer.concat([data, Buffer.alloc((1 << 20) - data.length)]); // 1 MB compressed
  const { message, grownMb } = await refusal(
    zip([{ name: 'archive/data.pkl', data: padded, size: 2 ** 30 }]),
  );
  assert.match(
    message,
    /^bomb\.ckpt: zip: entry 'archive\/data\.pkl' declares 1073741824 bytes, more than the 268435456 a pickle may have/,
  );
  assert.doesNotMatch(message, /\n/);
  assert.ok(grownMb < 64, `memory grew ${grownMb.toFixed(0)} MiB`);
});

test('an entry declaring more than deflate can produce from its bytes is refused', async () => {
  const data = deflateRawSync(Buffer.alloc(1000, 1));
  const { message, grownMb } = await refusal(
    zip([
      { name: 'archive/data.pkl', data: deflateRawSync(Buffer.from([0x80, 0x02, 0x4e, 0x2e])), size: 4 },
      { name: 'archive/data/0', data, size: 200_000_000 },
    ]),
  );
  assert.match(
    message,
    /entry 'archive\/data\/0' declares 200000000 bytes from \d+ compressed: more than deflate can produce/,
  );
  assert.ok(grownMb < 64, `memory grew ${grownMb.toFixed(0)} MiB`);
});

test('crc32 fallback agrees with zlib (Node < 20.15 has no zlib.crc32)', async () => {
  const zlib = await import('node:zlib');
  const bytes = new Uint8Array(100_003).map((_, i) => (i * 7919) % 251);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926); // the CRC-32 check value
  if ('crc32' in zlib) assert.equal(crc32(bytes), (zlib.crc32 as (b: Uint8Array) => number)(bytes) >>> 0);
});
