/**
 * One file into the store, resumable and verified: bytes go to a partial file, a later attempt
 * continues it with an HTTP Range request, the whole content is hashed and compared with the
 * hub's listing, and only then is the file moved into the snapshot with a hard link, which never
 * replaces an existing file.
 *
 * The body is fetched here rather than through @huggingface/hub's downloadFile: its WebBlob
 * stream turns failures into bare strings and hides the status, and resuming needs both (a 206
 * continues the partial file, a 200 means the server ignored the range and we start over).
 */
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { contentHasher, type ContentHasher } from './checksum.js';
import { networkFailure, type HubClient } from './hub-client.js';
import type { SnapshotFile } from './store.js';

export interface FileDownload {
  client: HubClient;
  repo: string;
  sha: string;
  file: SnapshotFile;
  url: string;
  partial: string;
  final: string;
  /** Called as bytes arrive, with the total held so far (resumed bytes included). */
  onBytes?: (held: number) => void;
}

/** Downloads (or resumes) `file`, verifies it and moves it into place. */
export async function downloadFile(d: FileDownload): Promise<void> {
  const hasher = contentHasher(d.file);
  await mkdir(path.dirname(d.partial), { recursive: true });
  let held = await sizeOf(d.partial);
  if (held > d.file.size) {
    await unlink(d.partial);
    held = 0;
  }
  if (held > 0) await hashExisting(d.partial, hasher);
  if (held < d.file.size || d.file.size === 0) held = await fetchRest(d, held, hasher);
  if (held !== d.file.size) {
    throw new Error(
      `${d.repo}: '${d.file.path}' ended after ${held} of ${d.file.size} bytes; pull again to resume`,
    );
  }
  const actual = hasher.digest();
  if (actual !== hasher.expected) {
    await unlink(d.partial);
    throw new Error(
      `${d.repo}@${d.sha}: '${d.file.path}' failed its ${hasher.algorithm} check (hub ${hasher.expected}, got ${actual}); the download was discarded`,
    );
  }
  await promote(d.partial, d.final);
}

async function fetchRest(d: FileDownload, from: number, hasher: ContentHasher): Promise<number> {
  const headers: Record<string, string> = { ...d.client.authHeaders() };
  if (from > 0) headers.Range = `bytes=${from}-`;
  let res: Response;
  try {
    res = await d.client.fetch(d.url, { headers });
  } catch (e) {
    throw networkFailure(e, d.client.endpoint);
  }
  if (!res.ok) throw d.client.failure(res, { repo: d.repo, revision: d.sha, file: d.file.path });
  let held = from;
  if (from > 0 && res.status !== 206) {
    // The server sent the whole file: start over rather than append it to what we hold.
    held = 0;
    hasher.reset();
    await unlink(d.partial);
  } else if (from > 0 && !res.headers.get('content-range')?.startsWith(`bytes ${from}-`)) {
    await res.body?.cancel();
    throw new Error(`${d.repo}: '${d.file.path}': the hub answered a range from ${from} with another range`);
  }
  const out = await open(d.partial, 'a');
  try {
    if (!res.body) return held;
    for await (const chunk of res.body) {
      if (held + chunk.byteLength > d.file.size) {
        held += chunk.byteLength;
        break;
      }
      await out.write(chunk);
      held += chunk.byteLength;
      hasher.update(chunk);
      d.onBytes?.(held);
    }
  } catch (e) {
    // A dropped connection: the bytes written so far stay in the partial file for the next attempt.
    if (e instanceof TypeError) {
      throw new Error(
        `${d.repo}: '${d.file.path}' interrupted after ${held} of ${d.file.size} bytes; pull again to resume`,
        { cause: e },
      );
    }
    throw e;
  } finally {
    await out.close();
  }
  if (held > d.file.size) {
    await unlink(d.partial);
    throw new Error(`${d.repo}: '${d.file.path}' is longer than the listed ${d.file.size} bytes; discarded`);
  }
  return held;
}

async function hashExisting(file: string, hasher: ContentHasher): Promise<void> {
  for await (const chunk of createReadStream(file)) hasher.update(chunk as Buffer);
}

/** A hard link fails if `final` exists, so a file someone else put there is never replaced. */
async function promote(partial: string, final: string): Promise<void> {
  await mkdir(path.dirname(final), { recursive: true });
  try {
    await link(partial, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new Error(`${final} appeared while downloading it; it was left as it is`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw e;
    // No hard links here: check, then rename (a narrow race instead of none).
    if (await exists(final)) throw new Error(`${final} exists; it was left as it is`);
    await rename(partial, final);
    return;
  }
  await unlink(partial);
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
