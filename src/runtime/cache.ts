/**
 * The content-addressed stage cache. A key is the sha256 of everything that determines a node's
 * outputs (type, version, params, input digests, model digest, seed). Entries live in memory (a
 * byte-bounded LRU of encoded entries) and on disk as one file each:
 *
 *   "FLOWCACHE1\n" | u32 header length | header JSON | payload | sha256 of everything before it
 *
 * Disk writes go to a temporary file in the same folder and are renamed into place, so a reader
 * never sees half an entry. A file whose checksum or structure is wrong is reported, removed and
 * recomputed: never trusted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EncodedTensor, EncodedValues } from './values.js';
import type { OutputFile } from '../nodes/define.js';
import { describeFsError, isUnwritable, makeFolder } from '../io/fs-errors.js';
import {
  ENTRY_MAGIC,
  entryFiles,
  pruneToSize,
  removeEmptyShards,
  removeStaleTemporaries,
} from './cache-files.js';

const MAGIC = ENTRY_MAGIC;

export interface CacheEntry {
  key: string;
  node: string;
  type: string;
  created: string;
  values: EncodedValues;
  files: OutputFile[];
  /** What the node reported while computing the entry (metrics, network calls), replayed on a hit. */
  report: EntryReport;
  /** What the key is the sha256 of (for `flow cache explain`); absent in older entries. */
  material?: unknown;
}

export interface EntryReport {
  metrics?: Record<string, number | number[] | string>;
  calls: { forward: number; gradient: number };
}

interface Header {
  key: string;
  node: string;
  type: string;
  created: string;
  tree: unknown;
  tensors: EncodedTensor[];
  tensorBytes: number;
  files: { path: string; byteLength: number }[];
  report: EntryReport;
  material?: unknown;
}

export type CacheLookup =
  { status: 'hit'; entry: CacheEntry } | { status: 'miss' } | { status: 'corrupt'; reason: string };

export function cacheKey(material: unknown): string {
  return createHash('sha256').update(canonicalJson(material)).digest('hex');
}

/** JSON with sorted object keys, so equal params always hash equally. */
export function canonicalJson(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function serializeEntry(e: CacheEntry): Buffer {
  const header: Header = {
    key: e.key,
    node: e.node,
    type: e.type,
    created: e.created,
    tree: e.values.tree,
    tensors: e.values.tensors,
    tensorBytes: e.values.payload.byteLength,
    files: e.files.map((f) => ({ path: f.path, byteLength: f.bytes.byteLength })),
    report: e.report,
    material: e.material,
  };
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(h.byteLength);
  const body = Buffer.concat([MAGIC, len, h, e.values.payload, ...e.files.map((f) => Buffer.from(f.bytes))]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

export function parseEntry(buf: Buffer, expectedKey: string): CacheEntry {
  if (buf.byteLength < MAGIC.byteLength + 4 + 32) throw new Error('entry too short');
  const body = buf.subarray(0, buf.byteLength - 32);
  const sum = buf.subarray(buf.byteLength - 32);
  if (!createHash('sha256').update(body).digest().equals(sum)) throw new Error('checksum mismatch');
  if (!body.subarray(0, MAGIC.byteLength).equals(MAGIC)) throw new Error('bad magic');
  const hlen = body.readUInt32LE(MAGIC.byteLength);
  const hStart = MAGIC.byteLength + 4;
  const header = JSON.parse(body.subarray(hStart, hStart + hlen).toString('utf8')) as Header;
  if (header.key !== expectedKey) throw new Error('key mismatch');
  let off = hStart + hlen;
  const payload = Buffer.from(body.subarray(off, off + header.tensorBytes));
  off += header.tensorBytes;
  const files: OutputFile[] = [];
  for (const f of header.files) {
    files.push({ path: f.path, bytes: new Uint8Array(body.subarray(off, off + f.byteLength)) });
    off += f.byteLength;
  }
  if (off !== body.byteLength) throw new Error('length mismatch');
  return {
    key: header.key,
    node: header.node,
    type: header.type,
    created: header.created,
    values: { tree: header.tree, tensors: header.tensors, payload },
    files,
    report: header.report ?? { calls: { forward: 0, gradient: 0 } },
    material: header.material,
  };
}

export interface StageCacheOptions {
  /** Disk folder; undefined for a memory-only cache. */
  dir?: string;
  /** Memory budget for encoded entries (bytes). */
  memoryBytes?: number;
}

export class StageCache {
  private readonly memory = new Map<string, Buffer>();
  private readonly shards = new Set<string>();
  private memoryUsed = 0;
  private diskWritesOff = false;
  private cleaned = false;
  readonly dir: string | undefined;
  private readonly memoryBytes: number;

  constructor(opts: StageCacheOptions = {}) {
    this.dir = opts.dir ? path.resolve(opts.dir) : undefined;
    this.memoryBytes = opts.memoryBytes ?? 256 * 1024 * 1024;
  }

  private fileOf(key: string): string {
    return path.join(this.dir as string, key.slice(0, 2), `${key}.entry`);
  }

  async get(key: string): Promise<CacheLookup> {
    const mem = this.memory.get(key);
    if (mem) {
      this.memory.delete(key);
      this.memory.set(key, mem); // LRU touch
      return { status: 'hit', entry: parseEntry(mem, key) };
    }
    if (!this.dir) return { status: 'miss' };
    let buf: Buffer;
    try {
      buf = await readFile(this.fileOf(key));
    } catch {
      return { status: 'miss' };
    }
    try {
      const entry = parseEntry(buf, key);
      this.remember(key, buf);
      const now = new Date();
      await utimes(this.fileOf(key), now, now).catch(() => undefined); // last use, for LRU pruning
      return { status: 'hit', entry };
    } catch (e) {
      await rm(this.fileOf(key), { force: true });
      return { status: 'corrupt', reason: e instanceof Error ? e.message : String(e) };
    }
  }

  /**
   * Store an entry. A disk folder that cannot take writes (full, read-only, no permission) turns
   * disk writes off for the rest of the run: the returned message says so, once.
   */
  async put(entry: CacheEntry): Promise<string | undefined> {
    const buf = serializeEntry(entry);
    this.remember(entry.key, buf);
    if (!this.dir || this.diskWritesOff) return undefined;
    if (!this.cleaned) {
      this.cleaned = true; // once per cache object: what killed runs left behind
      await removeStaleTemporaries(this.dir).catch(() => undefined);
    }
    const file = this.fileOf(entry.key);
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const shard = path.dirname(file);
      if (!this.shards.has(shard)) {
        await makeFolder(shard);
        this.shards.add(shard);
      }
      // No fsync: rename makes the entry appear whole or not at all for readers, and an entry torn
      // by a power loss fails its checksum and is recomputed.
      await writeFile(tmp, buf);
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      if (!isUnwritable(e)) throw e;
      if (this.diskWritesOff) return undefined; // a concurrent write already said so
      this.diskWritesOff = true;
      return `cannot write the stage cache '${this.dir}' (${describeFsError(e)}); running without writing it`;
    }
    return undefined;
  }

  private remember(key: string, buf: Buffer): void {
    if (buf.byteLength > this.memoryBytes / 4) return;
    const old = this.memory.get(key);
    if (old) this.memoryUsed -= old.byteLength;
    this.memory.set(key, buf);
    this.memoryUsed += buf.byteLength;
    for (const [k, b] of this.memory) {
      if (this.memoryUsed <= this.memoryBytes) break;
      this.memory.delete(k);
      this.memoryUsed -= b.byteLength;
    }
  }

  clearMemory(): void {
    this.memory.clear();
    this.memoryUsed = 0;
  }

  /** Entries on disk (for `flow cache ls`). */
  async list(): Promise<
    { key: string; node: string; type: string; created: string; bytes: number; ok: boolean }[]
  > {
    if (!this.dir) return [];
    const out: { key: string; node: string; type: string; created: string; bytes: number; ok: boolean }[] =
      [];
    for (const f of await entryFiles(this.dir)) {
      const buf = await readFile(f.file);
      try {
        const e = parseEntry(buf, f.key);
        out.push({
          key: f.key,
          node: e.node,
          type: e.type,
          created: e.created,
          bytes: buf.byteLength,
          ok: true,
        });
      } catch {
        out.push({ key: f.key, node: '?', type: '?', created: '?', bytes: buf.byteLength, ok: false });
      }
    }
    return out;
  }

  /** The readable entries on disk, decoded (header fields and key material). */
  async entries(): Promise<CacheEntry[]> {
    if (!this.dir) return [];
    const out: CacheEntry[] = [];
    for (const f of await entryFiles(this.dir)) {
      try {
        out.push(parseEntry(await readFile(f.file), f.key));
      } catch {
        // corrupt entries are reported by `cache ls` and replaced when next computed
      }
    }
    return out;
  }

  /** Remove every entry (and stale temporary file); the folder and anything else in it stay. */
  async clear(): Promise<number> {
    this.clearMemory();
    this.shards.clear();
    if (!this.dir) return 0;
    const files = await entryFiles(this.dir);
    for (const f of files) await unlink(f.file).catch(() => undefined);
    await removeStaleTemporaries(this.dir);
    await removeEmptyShards(this.dir);
    return files.length;
  }

  /** Temporary files of killed runs (by name and age); see cache-files.ts. */
  async removeStaleTemporaries(): Promise<number> {
    return this.dir ? removeStaleTemporaries(this.dir) : 0;
  }

  /** Least-recently-used pruning of the disk folder down to `maxBytes`. */
  async prune(maxBytes: number): Promise<{ removed: number; freed: number; kept: number }> {
    if (!this.dir) return { removed: 0, freed: 0, kept: 0 };
    this.shards.clear();
    return pruneToSize(this.dir, maxBytes);
  }
}

/** Write a file atomically (temp + rename) — used for run outputs too. */
export async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await makeFolder(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}
