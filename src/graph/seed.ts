/** Seeds are integers in [0, 2^32 - 1], whether they come from the YAML, --set seed=N or --seed N. */
export const MAX_SEED = 4294967295;

/** Undefined when `v` is a valid seed, else the problem in words. */
export function seedProblem(v: unknown, shown = JSON.stringify(v)): string | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_SEED) return undefined;
  return `must be an integer in [0, ${MAX_SEED}], got ${shown}`;
}
