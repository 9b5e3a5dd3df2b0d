/**
 * The stage cache's own files on disk, recognised by name and format so that clearing, pruning
 * and cleaning never touch anything else a user keeps in (or points --cache-dir at):
 *
 *   DIR/<2 hex>/<64 hex>.entry                       an entry (starts with the entry magic)
 *   DIR/<2 hex>/<64 hex>.entry.tmp-<pid>-<8 hex>     an entry being written
 */
import { open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from '../util/process-alive.js';

export const ENTRY_MAGIC = Buffer.from('FLOWCACHE1\n');
const SHARD = /^[0-9a-f]{2}$/;
const ENTRY = /^([0-9a-f]{64})\.entry$/;
const TEMPORARY = /^[0-9a-f]{64}\.entry\.tmp-(\d+)-[0-9a-f]{8}$/;
const STALE_MS = 60 * 60 * 1000;

export interface EntryFile {
  key: string;
  file: string;
  bytes: number;
  /** Last use: entries are touched on every disk hit, so this orders least-recently-used first. */
  usedMs: number;
}

async function shards(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names.filter((x) => SHARD.test(x)).sort()) {
    const info = await stat(path.join(dir, n)).catch(() => undefined);
    if (info?.isDirectory()) out.push(path.join(dir, n));
  }
  return out;
}

async function startsWithMagic(file: string): Promise<boolean> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const buf = Buffer.alloc(ENTRY_MAGIC.byteLength);
    const { bytesRead } = await fh.read(buf, 0, buf.byteLength, 0);
    return bytesRead === buf.byteLength && buf.equals(ENTRY_MAGIC);
  } finally {
    await fh.close();
  }
}

/** The cache's entry files (name and magic checked), in key order. */
export async function entryFiles(dir: string): Promise<EntryFile[]> {
  const out: EntryFile[] = [];
  for (const shard of await shards(dir)) {
    for (const name of (await readdir(shard)).sort()) {
      const m = ENTRY.exec(name);
      if (!m || !(m[1] as string).startsWith(path.basename(shard))) continue;
      const file = path.join(shard, name);
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile() || !(await startsWithMagic(file))) continue;
      out.push({ key: m[1] as string, file, bytes: info.size, usedMs: info.mtimeMs });
    }
  }
  return out;
}

/** Temporary entry files left by killed runs: the writer is gone, or the file is over an hour old. */
export async function removeStaleTemporaries(dir: string): Promise<number> {
  let n = 0;
  for (const shard of await shards(dir)) {
    for (const name of await readdir(shard)) {
      const m = TEMPORARY.exec(name);
      if (!m) continue;
      const file = path.join(shard, name);
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) continue;
      if (processAlive(Number(m[1])) && Date.now() - info.mtimeMs < STALE_MS) continue;
      await unlink(file).catch(() => undefined);
      n++;
    }
  }
  return n;
}

/** Remove shard folders that are left empty (rmdir refuses any that still hold something). */
export async function removeEmptyShards(dir: string): Promise<void> {
  for (const shard of await shards(dir)) await rmdir(shard).catch(() => undefined);
}

/** Delete least-recently-used entries until the entries total at most `maxBytes`. */
export async function pruneToSize(
  dir: string,
  maxBytes: number,
): Promise<{ removed: number; freed: number; kept: number }> {
  const files = (await entryFiles(dir)).sort((a, b) => a.usedMs - b.usedMs);
  let total = files.reduce((s, f) => s + f.bytes, 0);
  let removed = 0;
  let freed = 0;
  for (const f of files) {
    if (total <= maxBytes) break;
    await unlink(f.file).catch(() => undefined);
    total -= f.bytes;
    freed += f.bytes;
    removed++;
  }
  await removeEmptyShards(dir);
  return { removed, freed, kept: total };
}
