/**
 * Reading a whole checkpoint into memory. fs.readFile refuses files over 2 GiB; CompVis/Lightning
 * checkpoints with optimizer state pass that, so files are read in chunks into one buffer, up to the
 * largest typed array Node allows (4 GiB). Larger files are refused with a clear message.
 */
import { open } from 'node:fs/promises';
import { constants } from 'node:buffer';
import { checkpointError } from './errors.js';

const CHUNK = 256 * 1024 * 1024;

export async function readWholeFile(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > constants.MAX_LENGTH)
      throw checkpointError(
        path,
        `file is ${size} bytes; files over ${constants.MAX_LENGTH} bytes cannot be held in memory here`,
      );
    const out = new Uint8Array(size);
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(out, pos, Math.min(CHUNK, size - pos), pos);
      if (bytesRead === 0)
        throw checkpointError(path, `file shrank while being read (${pos} of ${size} bytes)`);
      pos += bytesRead;
    }
    return out;
  } finally {
    await fh.close();
  }
}
