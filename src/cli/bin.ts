/** Process entry of the `flow` command (bin/flow.js runs the compiled copy of this file). */
import { main } from './main.js';
import { releaseBackend } from '../runtime/backend.js';

const oneLine = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';

// A last guard: a rejection nobody awaited is still one line and exit 1, never a stack and exit 7.
process.on('unhandledRejection', (err: unknown) => {
  process.stderr.write(`flow: ${oneLine(err)}\n`);
  process.exit(1);
});

main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`flow: ${oneLine(err)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(releaseBackend); // a live webgpu device would keep the process from exiting
