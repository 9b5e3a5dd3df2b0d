/**
 * One error type for everything that can go wrong while reading or writing a checkpoint, so callers
 * (and the CLI) can show which file and which tensor key was at fault.
 */
export class CheckpointError extends Error {
  constructor(
    message: string,
    /** The file (or a caller-given label) being read; '<bytes>' when unknown. */
    readonly source: string = '<bytes>',
    /** The tensor key or pickle location involved, when there is one. */
    readonly key?: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Build a CheckpointError whose message starts with the file and (optionally) the key. */
export function checkpointError(source: string | undefined, message: string, key?: string): CheckpointError {
  const where = source ?? '<bytes>';
  const keyPart = key === undefined ? '' : ` (key '${key}')`;
  return new CheckpointError(`${where}${keyPart}: ${message}`, where, key);
}
