/**
 * One downloader per partial file: two pulls appending to the same partial file would corrupt it.
 * The lock is a file holding the owner's pid, created exclusively; a lock whose process is gone
 * (a pull killed by Ctrl-C or a crash) is taken over.
 */
import path from 'node:path';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';

export async function withDownloadLock<T>(partial: string, what: string, work: () => Promise<T>): Promise<T> {
  const lock = `${partial}.lock`;
  await mkdir(path.dirname(lock), { recursive: true });
  await takeLock(lock, what);
  try {
    return await work();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

async function takeLock(lock: string, what: string): Promise<void> {
  // Two attempts: the second follows the removal of a stale lock.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lock, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && isRunning(owner)) {
      throw new Error(`${what}: another flow pull (pid ${owner}) is downloading it; wait for it to finish`);
    }
    await unlink(lock).catch(() => undefined);
  }
  throw new Error(`${what}: cannot lock ${lock}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
