import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** File-system failures in words a user can act on (the errno code alone says little). */
const WORDS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
};

export function fsErrorCode(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** 'no space left on device' for ENOSPC; the first line of the message otherwise. */
export function describeFsError(e: unknown): string {
  const code = fsErrorCode(e);
  if (code && WORDS[code]) return WORDS[code];
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}

/** Errors that mean the folder cannot take writes at all (as opposed to a bug or a bad path). */
export function isUnwritable(e: unknown): boolean {
  return ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM'].includes(fsErrorCode(e) ?? '');
}

/**
 * mkdir -p that reports the real cause: a recursive mkdir says ENOENT when the folder cannot be
 * made because the disk is full or read-only, so on failure the folders are made one by one.
 */
export async function makeFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    if (fsErrorCode(e) !== 'ENOENT') throw e;
    const chain: string[] = [];
    for (let d = path.resolve(dir); d !== path.dirname(d); d = path.dirname(d)) chain.unshift(d);
    for (const d of chain) {
      await mkdir(d).catch((inner: unknown) => {
        if (fsErrorCode(inner) !== 'EEXIST') throw inner;
      });
    }
  }
}
