/** Run the `flow` command as a user does (a child process on the TypeScript sources). */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../engine/helpers.js';

/** Absolute, so that the command also starts from folders outside the repository. */
const TSX = import.meta.resolve('tsx');

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function flow(
  args: string[],
  opts: { cwd?: string; onStdout?: (chunk: string, kill: (s: NodeJS.Signals) => void) => void } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, path.join(REPO, 'src/cli/bin.ts'), ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(d.toString(), (s) => child.kill(s));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');
