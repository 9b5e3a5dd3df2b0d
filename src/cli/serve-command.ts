/** `flow serve`: start the local web app (src/serve) until Ctrl-C. */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { FlowError } from '../graph/errors.js';
import { StageCache } from '../runtime/cache.js';
import { initBackend, BACKEND_NAMES, type BackendName } from '../runtime/backend.js';
import { createServer } from '../serve/server.js';
import { checkBinding } from '../serve/access.js';

interface ServeFlags {
  port: number;
  host: string;
  token?: string;
  allowPlugins?: boolean;
  out: string;
  cache: boolean;
  cacheDir: string;
  previewEvery: number;
  backend?: BackendName;
}

function positiveInt(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new FlowError(`${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}

export function addServeCommand(program: Command, defaultCacheDir: string): void {
  program
    .command('serve')
    .description('a local web app: pick a pipeline and an image, draw a mask, run, watch it work')
    .option('--port <n>', 'port (0: any free port)', positiveInt('--port', 0), 8080)
    .option('--host <host>', 'address to bind (other than loopback only with --token)', '127.0.0.1')
    .option('--token <t>', 'access token required from clients (at least 16 characters)')
    .option('--allow-plugins', 'let pipelines opened in the page load their plugin modules')
    .option('--out <dir>', 'output folder: runs are written and listed here', 'out/serve')
    .option('--no-cache', 'recompute every stage')
    .option('--cache-dir <dir>', 'stage cache folder', defaultCacheDir)
    .option('--preview-every <k>', 'steps between live previews', positiveInt('--preview-every', 1), 5)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKEND_NAMES as string[]))
    .action(async (o: ServeFlags) => {
      checkBinding(o.host, o.token);
      const backend = await initBackend(o.backend);
      const outDir = path.resolve(o.out);
      const { app } = await createServer({
        outDir,
        cache: o.cache ? new StageCache({ dir: o.cacheDir }) : false,
        token: o.token,
        allowPlugins: o.allowPlugins,
        previewEvery: o.previewEvery,
      });
      const address = await app.listen({ port: o.port, host: o.host });
      const url = o.token ? `${address}/?token=${encodeURIComponent(o.token)}` : `${address}/`;
      process.stderr.write(
        `flow serve: ${url} (backend ${backend.name}; runs in ${outDir}${o.allowPlugins ? '; plugins allowed' : ''})\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.stderr.write('\nflow serve: stopping (cancelling any run)...\n');
          void app.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
