/**
 * `flow pull`: a repo at a revision into the local model store (store.ts). Online, the revision
 * is resolved to a commit sha, the files at that commit (or those matching --include) are
 * downloaded, resumed and verified one by one (download-file.ts); a file already complete is not
 * fetched again. Offline, the same request is served from the store or refused in one line.
 */
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import picomatch from 'picomatch';
import { contentHasher } from './checksum.js';
import { downloadFile } from './download-file.js';
import { withDownloadLock } from './download-lock.js';
import { HubClient } from './hub-client.js';
import { isCommitSha, type RepoRef } from './repo-ref.js';
import { ModelStore, type SnapshotFile, type SnapshotRecord } from './store.js';

export type PullEvent =
  | {
      type: 'resolved';
      repo: string;
      revision: string;
      sha: string;
      files: number;
      bytes: number;
      offline: boolean;
    }
  | { type: 'file-start'; path: string; size: number; resumeFrom: number }
  | { type: 'file-bytes'; path: string; held: number; size: number }
  | { type: 'file-done'; path: string; size: number; fetched: boolean };

export interface PullOptions {
  ref: RepoRef;
  store: ModelStore;
  /** Globs over repo paths (`unet/*`, `**\/*.json`); every file when empty. */
  include?: readonly string[];
  offline?: boolean;
  /** Required unless offline. */
  client?: HubClient;
  /** Extra attempts per file after a dropped connection, each resuming where the last stopped. */
  retries?: number;
  onEvent?: (e: PullEvent) => void;
}

export interface PullResult {
  repo: string;
  revision: string;
  sha: string;
  /** The snapshot folder: the files keep their repo paths under it. */
  snapshot: string;
  files: SnapshotFile[];
  /** Files fetched in this pull (the others were already in the store). */
  fetched: number;
}

export async function pull(opts: PullOptions): Promise<PullResult> {
  return opts.offline ? pullOffline(opts) : pullOnline(opts);
}

async function pullOnline(opts: PullOptions): Promise<PullResult> {
  const { ref, store } = opts;
  const client = opts.client;
  if (!client) throw new Error('pull: a hub client is needed unless offline');
  const sha = await client.resolveCommit(ref.repo, ref.revision);
  const listed = await client.listFiles(ref.repo, sha);
  for (const f of listed) checkRepoPath(ref, f.path);
  const files = selectFiles(ref, listed, opts.include);
  const previous = await store.readRecord(ref.repo, sha);
  const record: SnapshotRecord = { repo: ref.repo, sha, files: listed, complete: previous?.complete ?? [] };
  await store.writeRecord(record);
  emitResolved(opts, sha, files, false);
  const snapshot = store.snapshotDir(ref.repo, sha);
  let fetched = 0;
  for (const file of files) {
    const final = path.join(snapshot, file.path);
    if (await isComplete(record, file, final)) {
      opts.onEvent?.({ type: 'file-done', path: file.path, size: file.size, fetched: false });
      continue;
    }
    if (await adoptExisting(ref, file, final)) {
      opts.onEvent?.({ type: 'file-done', path: file.path, size: file.size, fetched: false });
    } else {
      await fetchWithRetries(opts, client, sha, file, final);
      fetched++;
      opts.onEvent?.({ type: 'file-done', path: file.path, size: file.size, fetched: true });
    }
    record.complete = [...new Set([...record.complete, file.path])];
    await store.writeRecord(record);
  }
  if (ref.revision !== sha) await store.writeRef(ref.repo, ref.revision, sha);
  return { repo: ref.repo, revision: ref.revision, sha, snapshot, files, fetched };
}

async function pullOffline(opts: PullOptions): Promise<PullResult> {
  const { ref, store } = opts;
  const notHere = `offline: ${ref.repo}@${ref.revision} is not in the store ${store.root}; pull it once online`;
  const sha = isCommitSha(ref.revision) ? ref.revision : await store.readRef(ref.repo, ref.revision);
  const record = sha ? await store.readRecord(ref.repo, sha) : undefined;
  if (!sha || !record) throw new Error(notHere);
  const files = selectFiles(ref, record.files, opts.include);
  const snapshot = store.snapshotDir(ref.repo, sha);
  const missing: string[] = [];
  for (const f of files)
    if (!(await isComplete(record, f, path.join(snapshot, f.path)))) missing.push(f.path);
  if (missing.length) {
    throw new Error(
      `offline: ${missing.length} of ${files.length} files of ${ref.repo}@${ref.revision} are not in the store ${store.root} (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); pull them once online`,
    );
  }
  emitResolved(opts, sha, files, true);
  for (const f of files) opts.onEvent?.({ type: 'file-done', path: f.path, size: f.size, fetched: false });
  return { repo: ref.repo, revision: ref.revision, sha, snapshot, files, fetched: 0 };
}

function selectFiles(
  ref: RepoRef,
  files: SnapshotFile[],
  include: readonly string[] | undefined,
): SnapshotFile[] {
  if (!include?.length) return files;
  const matches = picomatch([...include], { dot: true });
  const chosen = files.filter((f) => matches(f.path));
  if (!chosen.length) {
    throw new Error(
      `${ref.repo}@${ref.revision}: no file matches --include ${include.join(' ')} (it has ${files
        .slice(0, 5)
        .map((f) => f.path)
        .join(', ')}${files.length > 5 ? ', ...' : ''})`,
    );
  }
  return chosen;
}

/** Paths come from the hub and are joined onto store folders: none may climb out of them. */
function checkRepoPath(ref: RepoRef, p: string): void {
  const parts = p.split('/');
  if (
    !p ||
    path.isAbsolute(p) ||
    p.includes('\\') ||
    parts.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new Error(`${ref.repo}@${ref.revision}: the hub listed a file path flow will not write ('${p}')`);
  }
}

async function isComplete(record: SnapshotRecord, file: SnapshotFile, final: string): Promise<boolean> {
  if (!record.complete.includes(file.path)) return false;
  const size = await stat(final).then(
    (s) => s.size,
    () => -1,
  );
  return size === file.size;
}

/**
 * A file already at the snapshot path that flow has no record of completing: kept if its content
 * is the hub's, refused otherwise (never overwritten: it is not flow's to replace).
 */
async function adoptExisting(ref: RepoRef, file: SnapshotFile, final: string): Promise<boolean> {
  const present = await stat(final).then(
    () => true,
    () => false,
  );
  if (!present) return false;
  const hasher = contentHasher(file);
  for await (const chunk of createReadStream(final)) hasher.update(chunk as Buffer);
  if (hasher.digest() === hasher.expected) return true;
  throw new Error(
    `${final} exists and is not ${ref.repo}'s '${file.path}' (${hasher.algorithm} differs); flow pull does not overwrite it: move it away`,
  );
}

async function fetchWithRetries(
  opts: PullOptions,
  client: HubClient,
  sha: string,
  file: SnapshotFile,
  final: string,
): Promise<void> {
  const { ref, store } = opts;
  const location = await client.locate(ref.repo, sha, file.path);
  checkMetadata(ref, file, location.size, location.etag);
  const partial = store.partialFile(ref.repo, sha, file.path);
  const attempts = 1 + Math.max(0, opts.retries ?? 2);
  await withDownloadLock(partial, `${ref.repo}: '${file.path}'`, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const held = await partialSize(partial);
        opts.onEvent?.({ type: 'file-start', path: file.path, size: file.size, resumeFrom: held });
        await downloadFile({
          client,
          repo: ref.repo,
          sha,
          file,
          url: location.url,
          partial,
          final,
          onBytes: (h) => opts.onEvent?.({ type: 'file-bytes', path: file.path, held: h, size: file.size }),
        });
        return;
      } catch (e) {
        if (attempt >= attempts || !isInterruption(e)) throw e;
      }
    }
  });
}

/** The listing and the file's own headers must agree before a byte is written. */
function checkMetadata(ref: RepoRef, file: SnapshotFile, size: number, etag: string): void {
  const tag = etag.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  const expected = (file.sha256 ?? file.gitOid).toLowerCase();
  if (size !== file.size || (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(tag) && tag !== expected)) {
    throw new Error(
      `${ref.repo}: the hub's listing and its headers disagree about '${file.path}' (size ${file.size} vs ${size}, hash ${expected} vs ${tag}); try again later`,
    );
  }
}

function isInterruption(e: unknown): boolean {
  return e instanceof Error && e.cause instanceof TypeError;
}

async function partialSize(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

function emitResolved(opts: PullOptions, sha: string, files: SnapshotFile[], offline: boolean): void {
  opts.onEvent?.({
    type: 'resolved',
    repo: opts.ref.repo,
    revision: opts.ref.revision,
    sha,
    files: files.length,
    bytes: files.reduce((a, f) => a + f.size, 0),
    offline,
  });
}
