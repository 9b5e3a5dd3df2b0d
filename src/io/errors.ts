/**
 * The error image I/O raises for problems a user can fix (a wrong path, a corrupt or unsupported
 * file, a pattern that matches nothing): one line naming the path, printed by the CLI without a stack.
 */
import { FlowError } from '../graph/errors.js';

export class ImageIOError extends FlowError {
  constructor(
    /** The file, folder or pattern the problem is about, as the user wrote or resolved it. */
    readonly path: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${problem}`, undefined, options);
    this.name = 'ImageIOError';
  }
}

/** The first line of an error's message: library messages can span lines, ours must not. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n')[0] ?? msg).trim();
}
