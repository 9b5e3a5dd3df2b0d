/** `ORG/REPO[@REVISION]`, the way `flow pull` names a model repository on the hub. */

export interface RepoRef {
  /** `org/name` as the hub spells it. */
  repo: string;
  /** Branch, tag or commit sha; `main` when not given. */
  revision: string;
}

// The hub's repo names: letters, digits, '-', '_', '.'; never '..' or a leading '.'.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const COMMIT_SHA = /^[0-9a-f]{40}$/;

export function parseRepoRef(text: string): RepoRef {
  const at = text.indexOf('@');
  const repo = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? 'main' : text.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p) && !p.includes('..'))) {
    throw new Error(`'${text}': expected ORG/REPO[@REVISION], e.g. CompVis/stable-diffusion-v1-4@main`);
  }
  // Revisions may hold '/' (refs/pr/1) but nothing that could climb out of a folder.
  if (
    !revision ||
    revision.split('/').some((s) => s === '' || s === '.' || s === '..') ||
    /[\s\\]/.test(revision)
  ) {
    throw new Error(`'${text}': '${revision}' is not a revision (a branch, tag or commit sha)`);
  }
  return { repo, revision };
}

export function isCommitSha(revision: string): boolean {
  return COMMIT_SHA.test(revision);
}
