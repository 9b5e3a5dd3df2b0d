/**
 * The local model store: where `flow pull` keeps what it downloaded, keyed by repo and by the
 * commit sha a revision resolved to, so a snapshot never changes once complete.
 *
 *   <store>/hub/<org>/<name>/refs/<revision>         the commit sha of the last online pull
 *   <store>/hub/<org>/<name>/snapshots/<sha>/<path>  verified files, exactly as the hub serves them
 *   <store>/hub/<org>/<name>/partial/<sha>/<path>    downloads in progress, resumed by the next pull
 *   <store>/hub/<org>/<name>/meta/<sha>.json         the file listing and which files flow completed
 *   <store>/hub/<org>/<name>/converted/<sha>/<preset>/  the model folder a preset made from the snapshot
 */
import os from 'node:os';
import path from 'node:path';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';

/** `FLOW_STORE`, else `FLOW_HOME`, else `$XDG_CACHE_HOME/flow`, else `~/.cache/flow`. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  const chosen = env.FLOW_STORE || env.FLOW_HOME;
  if (chosen) return path.resolve(chosen);
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'flow');
}

/** One file of a snapshot as the hub lists it. */
export interface SnapshotFile {
  path: string;
  size: number;
  /** The LFS object id (the content's sha256), for files stored with LFS or xet. */
  sha256?: string;
  /** The git blob id (sha1 of `blob <size>\0` + content), which is all the hub gives for small files. */
  gitOid: string;
}

export interface SnapshotRecord {
  repo: string;
  sha: string;
  files: SnapshotFile[];
  /** Paths flow downloaded (or found already in place) and verified. */
  complete: string[];
}

export class ModelStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  repoDir(repo: string): string {
    return path.join(this.root, 'hub', ...repo.split('/'));
  }

  refFile(repo: string, revision: string): string {
    return path.join(this.repoDir(repo), 'refs', encodeURIComponent(revision));
  }

  snapshotDir(repo: string, sha: string): string {
    return path.join(this.repoDir(repo), 'snapshots', sha);
  }

  partialFile(repo: string, sha: string, file: string): string {
    return path.join(this.repoDir(repo), 'partial', sha, `${file}.part`);
  }

  convertedDir(repo: string, sha: string, preset: string): string {
    return path.join(this.repoDir(repo), 'converted', sha, preset);
  }

  private metaFile(repo: string, sha: string): string {
    return path.join(this.repoDir(repo), 'meta', `${sha}.json`);
  }

  async readRef(repo: string, revision: string): Promise<string | undefined> {
    const text = await readFile(this.refFile(repo, revision), 'utf8').catch(missingAsUndefined);
    return text?.trim();
  }

  async writeRef(repo: string, revision: string, sha: string): Promise<void> {
    await writeAtomically(this.refFile(repo, revision), `${sha}\n`);
  }

  async readRecord(repo: string, sha: string): Promise<SnapshotRecord | undefined> {
    const file = this.metaFile(repo, sha);
    const text = await readFile(file, 'utf8').catch(missingAsUndefined);
    if (text === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isSnapshotRecord(parsed)) {
      throw new Error(`${file}: the store's record of this snapshot is damaged; delete it and pull again`);
    }
    return parsed;
  }

  async writeRecord(record: SnapshotRecord): Promise<void> {
    await writeAtomically(this.metaFile(record.repo, record.sha), JSON.stringify(record, null, 1) + '\n');
  }
}

function isSnapshotRecord(v: unknown): v is SnapshotRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.repo === 'string' &&
    typeof r.sha === 'string' &&
    Array.isArray(r.complete) &&
    r.complete.every((p) => typeof p === 'string') &&
    Array.isArray(r.files) &&
    r.files.every(
      (f: unknown) =>
        typeof f === 'object' &&
        f !== null &&
        typeof (f as SnapshotFile).path === 'string' &&
        typeof (f as SnapshotFile).size === 'number' &&
        typeof (f as SnapshotFile).gitOid === 'string',
    )
  );
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

function missingAsUndefined(e: NodeJS.ErrnoException): undefined {
  if (e.code === 'ENOENT') return undefined;
  throw e;
}
