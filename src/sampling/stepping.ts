/**
 * Samplers are written as generators that pause after every step. Run synchronously they are
 * plain loops (`runSteps`); run with `runStepsAsync` they give the event loop a turn between
 * steps, so a Ctrl-C (an AbortSignal fired from a signal handler) is noticed within one step
 * instead of after the whole sampling run.
 */
export function runSteps<T>(steps: Generator<void, T>): T {
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

export async function runStepsAsync<T>(steps: Generator<void, T>): Promise<T> {
  let r = steps.next();
  while (!r.done) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    r = steps.next();
  }
  return r.value;
}
