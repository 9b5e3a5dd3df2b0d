/** Helpers for engine tests: temporary pipeline files using the trivial test plugin. */
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PLUGIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/engine/trivial-nodes.ts',
);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function tempDir(prefix = 'flow-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** Write files (name -> text) into a fresh temp folder; returns the folder. */
export async function writeFiles(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text.replaceAll('$PLUGIN', PLUGIN));
  }
  return dir;
}

/** A pipeline header using the test plugin; append `nodes:` content. */
export function pipeline(nodes: string, extra = ''): string {
  return `version: 1\nname: t\nparams:\n  seed: 1\n  n: 3\n${extra}plugins:\n  - $PLUGIN\nnodes:\n${nodes}`;
}
