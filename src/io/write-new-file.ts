/**
 * Writing a file a command makes on request (a report, a graph picture) without ever replacing a
 * file flow did not write: the bytes go to a temporary name and are hard-linked into place, which
 * fails if the name exists, so an existing file is refused rather than replaced. Only a file the
 * caller knows to be flow's own (`replaceOwn`) is replaced, atomically.
 */
import { randomBytes } from 'node:crypto';
import { link, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FlowError } from '../graph/errors.js';
import { makeFolder } from './fs-errors.js';

export async function writeNewFile(
  file: string,
  bytes: Uint8Array | string,
  replaceOwn = false,
): Promise<void> {
  await makeFolder(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, bytes);
    if (replaceOwn) {
      await rename(tmp, file);
      return;
    }
    await link(tmp, file).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new FlowError(
          `'${file}' exists and flow did not write it; choose another file with --out FILE`,
        );
      throw e;
    });
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}
