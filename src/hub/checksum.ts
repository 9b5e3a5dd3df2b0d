/**
 * What a downloaded file is checked against. The hub's tree listing gives, for LFS (and xet)
 * files, the LFS object id, which is the sha256 of the content; for small files kept in git it
 * gives only the git blob id, the sha1 of `blob <size>\0` followed by the content. Both are
 * checked, so no file is promoted into the store unverified.
 */
import { createHash, type Hash } from 'node:crypto';
import type { SnapshotFile } from './store.js';

export interface ContentHasher {
  readonly algorithm: 'sha256' | 'git blob sha1';
  readonly expected: string;
  update(chunk: Uint8Array): void;
  /** Hex digest of everything passed to update since the start or the last reset. */
  digest(): string;
  reset(): void;
}

export function contentHasher(file: SnapshotFile): ContentHasher {
  const start = (): Hash =>
    file.sha256 ? createHash('sha256') : createHash('sha1').update(`blob ${file.size}\0`);
  let hash = start();
  return {
    algorithm: file.sha256 ? 'sha256' : 'git blob sha1',
    expected: (file.sha256 ?? file.gitOid).toLowerCase(),
    update: (chunk) => void hash.update(chunk),
    digest: () => hash.digest('hex'),
    reset: () => void (hash = start()),
  };
}
