/**
 * The hub's refusals as one line a user can act on. The hub says what went wrong in the
 * `X-Error-Code` header (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo); without it
 * the status code is all there is. A missing repo is answered 401 to anonymous callers (so as not
 * to reveal private repos), hence the hint about HF_TOKEN there too.
 */
export interface HubFailure {
  status: number;
  /** The X-Error-Code header, when the hub sent one. */
  code?: string;
}

export interface FailureContext {
  repo: string;
  revision: string;
  endpoint: string;
  hasToken: boolean;
  /** The file being fetched, when the failure is about one file. */
  file?: string;
}

export function describeHubFailure(f: HubFailure, c: FailureContext): string {
  const where = `${c.repo}@${c.revision}`;
  const tokenHint = c.hasToken
    ? 'the token in HF_TOKEN has no access to it'
    : 'if it is private or gated, set HF_TOKEN to an access token';
  switch (f.code) {
    case 'RevisionNotFound':
      return `${c.repo}: revision '${c.revision}' not found on ${c.endpoint} (a branch, tag or commit sha)`;
    case 'RepoNotFound':
      return `${c.repo}: repository not found on ${c.endpoint} (${tokenHint})`;
    case 'EntryNotFound':
      return `${where}: file '${c.file ?? '?'}' not found on ${c.endpoint}`;
    case 'GatedRepo':
      return c.hasToken
        ? `${c.repo} is gated and the token in HF_TOKEN has not been granted access: accept its terms on the hub`
        : `${c.repo} is gated: accept its terms on the hub and set HF_TOKEN to an access token`;
  }
  const what = c.file ? `${where}: '${c.file}'` : where;
  switch (f.status) {
    case 401:
      return c.hasToken
        ? `${what}: the hub refused the token in HF_TOKEN (401)`
        : `${what}: the hub requires authentication (401): set HF_TOKEN to an access token`;
    case 403:
      return `${what}: access denied (403; ${tokenHint})`;
    case 404:
      return c.file
        ? `${where}: file '${c.file}' not found on ${c.endpoint} (404)`
        : `${c.repo}: repository or revision '${c.revision}' not found on ${c.endpoint} (404)`;
    default:
      return `${what}: the hub at ${c.endpoint} answered HTTP ${f.status}`;
  }
}
