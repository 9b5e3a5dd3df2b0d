/**
 * Errors a user can act on: one line, naming the file and the YAML line and column where there is
 * one. The CLI prints `message` alone (no stack) unless --debug.
 */
export interface SourceLocation {
  file: string;
  line?: number;
  col?: number;
}

export function formatLocation(loc: SourceLocation | undefined): string {
  if (!loc) return '';
  if (loc.line === undefined) return `${loc.file}: `;
  return `${loc.file}:${loc.line}:${loc.col ?? 1}: `;
}

export class FlowError extends Error {
  constructor(
    readonly detail: string,
    readonly location?: SourceLocation,
    options?: { cause?: unknown },
  ) {
    super(`${formatLocation(location)}${detail}`, options);
    this.name = 'FlowError';
  }
}

/** Raised when a run is stopped by Ctrl-C or an AbortSignal. */
export class AbortedError extends Error {
  constructor(message = 'run aborted') {
    super(message);
    this.name = 'AbortedError';
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}

/** The closest candidate within a reasonable distance, as a " (did you mean 'x'?)" suffix, or ''. */
export function suggest(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined || bestD > Math.max(2, Math.floor(name.length / 3))) return '';
  return ` (did you mean '${best}'?)`;
}
