/** Process entry of the `flow` command (bin/flow.js runs the compiled copy of this file). */
import { main } from './main.js';
import { releaseBackend } from '../runtime/backend.js';

main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`flow: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  )
  .finally(releaseBackend); // a live webgpu device would keep the process from exiting
