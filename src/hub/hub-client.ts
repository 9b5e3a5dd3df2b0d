/**
 * The hub calls `flow pull` makes, through @huggingface/hub: a revision resolved to its commit
 * sha (`modelInfo`, GET api/models/{repo}/revision/{rev}), the recursive file listing at that
 * commit with each file's LFS sha256 or git blob id (`listFiles`, GET api/models/{repo}/tree/{sha},
 * following Link pagination), and each file's size, ETag and download URL (`fileDownloadInfo`, a
 * one-byte ranged GET of {repo}/resolve/{sha}/{path}). The file bodies are fetched in
 * download-file.ts. Every refusal becomes one line (hub-errors.ts).
 */
import { HubApiError, fileDownloadInfo, listFiles, modelInfo } from '@huggingface/hub';
import { describeHubFailure, type FailureContext } from './hub-errors.js';
import type { SnapshotFile } from './store.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubClientOptions {
  /** The hub's base URL (`--endpoint`, else HF_ENDPOINT, else huggingface.co). */
  endpoint: string;
  /** An access token (`hf_...`) for gated or private repos. */
  token?: string;
  /** The fetch used for every request (tests and proxies); global fetch by default. */
  fetch?: typeof fetch;
}

export interface FileLocation {
  url: string;
  size: number;
  /** The hub's ETag for the file: the sha256 for LFS files (X-Linked-ETag), the git blob id otherwise. */
  etag: string;
}

export class HubClient {
  readonly endpoint: string;
  readonly token: string | undefined;
  /**
   * The fetch every request goes through. It records the hub's X-Error-Code by URL, since the
   * library's HubApiError keeps the status and URL but not the headers.
   */
  readonly fetch: typeof fetch;
  private readonly errorCodes = new Map<string, string>();

  constructor(opts: HubClientOptions) {
    this.endpoint = opts.endpoint.replace(/\/+$/, '');
    if (opts.token !== undefined && !opts.token.startsWith('hf_')) {
      throw new Error(`HF_TOKEN must be a hub access token (it starts with 'hf_')`);
    }
    this.token = opts.token;
    const base = opts.fetch ?? globalThis.fetch;
    this.fetch = async (input, init) => {
      const res = await base(input, init);
      const code = res.headers.get('x-error-code');
      if (!res.ok && code) this.errorCodes.set(res.url, code);
      return res;
    };
  }

  /** The commit sha `revision` points at now; fails with one line for a missing repo or revision. */
  async resolveCommit(repo: string, revision: string): Promise<string> {
    const info = await this.call({ repo, revision }, () =>
      modelInfo({ ...this.common(), name: repo, revision, additionalFields: ['sha'] }),
    );
    if (!/^[0-9a-f]{40}$/.test(info.sha ?? '')) {
      throw new Error(`${repo}@${revision}: the hub at ${this.endpoint} sent no commit sha for the revision`);
    }
    return info.sha;
  }

  /** Every file of the repo at `sha`, with what its content is checked against. */
  async listFiles(repo: string, sha: string): Promise<SnapshotFile[]> {
    return this.call({ repo, revision: sha }, async () => {
      const files: SnapshotFile[] = [];
      for await (const e of listFiles({ ...this.common(), repo, revision: sha, recursive: true })) {
        if (e.type !== 'file') continue;
        if (e.oid === undefined)
          throw new Error(`${repo}@${sha}: the hub listed '${e.path}' without a git oid`);
        files.push({ path: e.path, size: e.size, gitOid: e.oid, ...(e.lfs ? { sha256: e.lfs.oid } : {}) });
      }
      return files;
    });
  }

  /** Where to download `file` from, with its size and ETag. */
  async locate(repo: string, sha: string, file: string): Promise<FileLocation> {
    const ctx = { repo, revision: sha, file };
    const info = await this.call(ctx, () =>
      fileDownloadInfo({ ...this.common(), repo, revision: sha, path: file }),
    );
    if (!info) throw new Error(describeHubFailure({ status: 404, code: 'EntryNotFound' }, this.context(ctx)));
    return { url: info.url, size: info.size, etag: info.etag };
  }

  /** The one-line error for a failed response to a request this client made. */
  failure(res: Response, ctx: Omit<FailureContext, 'endpoint' | 'hasToken'>): Error {
    const code = res.headers.get('x-error-code') ?? undefined;
    return new Error(describeHubFailure({ status: res.status, code }, this.context(ctx)));
  }

  /** Authorization for requests made outside the library (the file bodies). */
  authHeaders(): Record<string, string> {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  private common(): { hubUrl: string; fetch: typeof fetch; accessToken?: string } {
    return { hubUrl: this.endpoint, fetch: this.fetch, ...(this.token ? { accessToken: this.token } : {}) };
  }

  private context(ctx: Omit<FailureContext, 'endpoint' | 'hasToken'>): FailureContext {
    return { ...ctx, endpoint: this.endpoint, hasToken: this.token !== undefined };
  }

  private async call<T>(
    ctx: Omit<FailureContext, 'endpoint' | 'hasToken'>,
    request: () => Promise<T>,
  ): Promise<T> {
    try {
      return await request();
    } catch (e) {
      if (e instanceof HubApiError) {
        const code = this.errorCodes.get(e.url);
        throw new Error(describeHubFailure({ status: e.statusCode, code }, this.context(ctx)), { cause: e });
      }
      throw networkFailure(e, this.endpoint);
    }
  }
}

/** fetch rejects with a bare "fetch failed" TypeError; its cause names the socket error. */
export function networkFailure(e: unknown, endpoint: string): unknown {
  if (!(e instanceof TypeError) || e.message !== 'fetch failed') return e;
  const cause: unknown = e.cause;
  const detail =
    cause instanceof Error
      ? ((cause as NodeJS.ErrnoException).code ?? cause.message)
      : String(cause ?? 'unknown');
  return new Error(`cannot reach the hub at ${endpoint} (${detail}); --offline serves what the store holds`, {
    cause: e,
  });
}
