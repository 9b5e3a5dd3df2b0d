/**
 * The run's output folder, written all-or-nothing: files go to a hidden staging folder beside the
 * target and the staging folder replaces the target only when the run succeeds. A failed or
 * interrupted run leaves the previous output (if any) untouched and no partial folder behind.
 */
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomic } from './cache.js';
import type { OutputFile } from '../nodes/define.js';

export class OutputWriter {
  readonly staging: string;
  private readonly written = new Set<string>();
  private pending: Promise<void>[] = [];

  constructor(readonly target: string) {
    const abs = path.resolve(target);
    this.staging = path.join(
      path.dirname(abs),
      `.${path.basename(abs)}.partial-${process.pid}-${randomBytes(3).toString('hex')}`,
    );
    this.target = abs;
  }

  async open(): Promise<void> {
    await mkdir(this.staging, { recursive: true });
  }

  write(file: OutputFile): void {
    const rel = path.posix.normalize(file.path);
    if (rel.startsWith('..') || path.isAbsolute(rel) || rel === '.' || rel.includes('\\')) {
      throw new Error(`output path '${file.path}' must be relative and stay inside the output folder`);
    }
    if (this.written.has(rel)) throw new Error(`two nodes write the same output file '${rel}'`);
    this.written.add(rel);
    this.pending.push(writeFileAtomic(path.join(this.staging, rel), file.bytes));
  }

  files(): string[] {
    return [...this.written].sort();
  }

  /** Wait for writes, then swap the staging folder into place. */
  async commit(): Promise<void> {
    await Promise.all(this.pending);
    let old: string | undefined;
    try {
      await stat(this.target);
      old = `${this.staging}.old`;
      await rename(this.target, old);
    } catch {
      old = undefined;
    }
    await rename(this.staging, this.target);
    if (old) await rm(old, { recursive: true, force: true });
  }

  async discard(): Promise<void> {
    await Promise.allSettled(this.pending);
    await rm(this.staging, { recursive: true, force: true });
  }
}
