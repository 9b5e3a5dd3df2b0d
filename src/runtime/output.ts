/**
 * The run's output folder, written all-or-nothing: files go to a hidden staging folder beside the
 * target and the staging folder replaces the target only when the run succeeds. A failed or
 * interrupted run leaves the previous output (if any) untouched and no partial folder behind.
 * Only a folder an earlier flow run wrote is ever replaced (output-marker.ts).
 */
import { mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomic } from './cache.js';
import { FlowError } from '../graph/errors.js';
import { describeFsError } from '../io/fs-errors.js';
import type { OutputFile } from '../nodes/define.js';
import {
  OUTPUT_MARKER,
  checkOutputTarget,
  removeOwnOutput,
  removeStaleStaging,
  stagingName,
  type OutputMarker,
} from './output-marker.js';

export class OutputWriter {
  readonly staging: string;
  private readonly written = new Set<string>();
  private pending: Promise<void>[] = [];
  private failure: unknown;
  private readonly runId = randomBytes(8).toString('hex');

  constructor(
    readonly target: string,
    private readonly pipeline?: string,
  ) {
    const abs = path.resolve(target);
    this.staging = path.join(
      path.dirname(abs),
      stagingName(abs, process.pid, randomBytes(3).toString('hex')),
    );
    this.target = abs;
  }

  private fail(e: unknown): never {
    throw new FlowError(`cannot write the output folder '${this.target}': ${describeFsError(e)}`, undefined, {
      cause: e,
    });
  }

  private marker(files: string[]): string {
    const m: OutputMarker = {
      flow: 'output',
      run: this.runId,
      pipeline: this.pipeline,
      created: new Date().toISOString(),
      files,
    };
    return JSON.stringify(m, null, 2) + '\n';
  }

  /** Refuse a target flow may not replace, before any work is done; then make the staging folder. */
  async open(): Promise<void> {
    await removeStaleStaging(this.target);
    await checkOutputTarget(this.target);
    try {
      await mkdir(path.dirname(this.staging), { recursive: true });
      await mkdir(this.staging); // not recursive: the staging folder is always one flow created
      await writeFile(path.join(this.staging, OUTPUT_MARKER), this.marker([]));
    } catch (e) {
      this.fail(e);
    }
  }

  write(file: OutputFile): void {
    if (this.failure !== undefined) this.fail(this.failure);
    const rel = path.posix.normalize(file.path);
    if (rel.startsWith('..') || path.isAbsolute(rel) || rel === '.' || rel.includes('\\')) {
      throw new Error(`output path '${file.path}' must be relative and stay inside the output folder`);
    }
    if (rel === OUTPUT_MARKER) throw new Error(`output path '${rel}' is reserved for flow's marker`);
    if (this.written.has(rel)) throw new Error(`two nodes write the same output file '${rel}'`);
    this.written.add(rel);
    // Handled at once (no unhandled rejection); the next write or the commit reports it.
    this.pending.push(
      writeFileAtomic(path.join(this.staging, rel), file.bytes).catch((e: unknown) => {
        this.failure ??= e;
      }),
    );
  }

  files(): string[] {
    return [...this.written].sort();
  }

  /** Wait for writes, then swap the staging folder into place. */
  async commit(): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure !== undefined) this.fail(this.failure);
    try {
      await writeFile(path.join(this.staging, OUTPUT_MARKER), this.marker(this.files()));
    } catch (e) {
      this.fail(e);
    }
    // Checked again: the user may have put files into the target while the run went on.
    const previous = await checkOutputTarget(this.target);
    const old = `${this.staging}.old`;
    let moved = false;
    try {
      if (previous) {
        await rename(this.target, old);
        moved = true;
      } else await rmdir(this.target).catch(() => undefined); // absent or empty
      await rename(this.staging, this.target);
    } catch (e) {
      if (moved) await rename(old, this.target).catch(() => undefined);
      this.fail(e);
    }
    if (previous && moved) await removeOwnOutput(old, previous);
  }

  async discard(): Promise<void> {
    await Promise.allSettled(this.pending);
    await rm(this.staging, { recursive: true, force: true });
  }
}
