/** The `flow` command line: run, validate, graph, nodes, cache. */
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { loadPlan, type Plan } from '../graph/plan.js';
import { toDot, toMermaid } from '../graph/graph.js';
import { AbortedError, FlowError } from '../graph/errors.js';
import { runPlan } from '../runtime/execute.js';
import { StageCache } from '../runtime/cache.js';
import { initBackend, BACKEND_NAMES, type BackendName } from '../runtime/backend.js';
import { ProgressRenderer, formatSummary, type LogMode } from './progress.js';
import { describeNodes } from './nodes-command.js';
import { inspectPath } from './inspect-command.js';
import { convertCheckpoint } from '../models/convert.js';
import { importLpipsSqueeze } from '../models/lpips-import.js';
import { SCALE_IMAGE_COUNT } from '../models/likelihood-scale.js';
import { likelihoodScaleCommand } from './likelihood-scale-command.js';

const DEFAULT_CACHE = process.env.FLOW_CACHE_DIR ?? '.flow-cache';

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function parseSeed(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new FlowError(`--seed must be a non-negative integer, got '${v}'`);
  return n;
}

interface CommonOpts {
  set: string[];
  seed?: number;
  debug?: boolean;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  let debug = argv.includes('--debug');
  const program = new Command();
  program
    .name('flow')
    .description('Dataflow engine for image inverse problems with diffusion priors')
    .option('--debug', 'print stack traces on errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const withPipelineOpts = (c: Command): Command =>
    c
      .option(
        '--set <name=value>',
        'override a pipeline param (name=v) or a node param (node.param=v); repeatable',
        collect,
        [],
      )
      .option('--seed <n>', 'override params.seed', parseSeed);

  withPipelineOpts(program.command('run').argument('<file>', 'pipeline YAML').description('run a pipeline'))
    .option('--out <dir>', 'output folder (default: out/<pipeline name>)')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKEND_NAMES as string[]))
    .option('--no-cache', 'recompute every stage (the cache is neither read nor written)')
    .option('--cache-dir <dir>', 'stage cache folder', DEFAULT_CACHE)
    .addOption(new Option('--log <mode>', 'progress output').choices(['pretty', 'json', 'plain']))
    .option('--items-in-flight <n>', 'items admitted from each source at once', (v) => Number(v), 4)
    .action(
      async (
        file: string,
        o: CommonOpts & {
          out?: string;
          backend?: BackendName;
          cache: boolean;
          cacheDir: string;
          log?: LogMode;
          itemsInFlight: number;
        },
      ) => {
        debug ||= Boolean(o.debug);
        const plan = await loadPlan(file, { overrides: o.set, seed: o.seed });
        const backend = await initBackend(o.backend);
        const mode: LogMode = o.log ?? (process.stderr.isTTY ? 'pretty' : 'plain');
        if (mode !== 'json') {
          process.stderr.write(`flow: ${plan.name} on backend ${backend.name} (${backend.provider})\n`);
          for (const s of backend.skipped) process.stderr.write(`  (not used: ${s})\n`);
        }
        const outDir = path.resolve(o.out ?? path.join('out', plan.name));
        const cache = o.cache ? new StageCache({ dir: o.cacheDir }) : false;
        const renderer = new ProgressRenderer(mode);
        const handle = runPlan(plan, { outDir, cache, maxItemsInFlight: o.itemsInFlight });
        let interrupts = 0;
        const onSigint = (): void => {
          interrupts++;
          if (interrupts > 1) process.exit(130);
          process.stderr.write('\nflow: interrupted, stopping...\n');
          handle.abort();
        };
        process.on('SIGINT', onSigint);
        handle.events$.subscribe((e) => renderer.handle(e));
        try {
          const result = await handle.result;
          if (mode === 'json')
            process.stdout.write(JSON.stringify({ type: 'summary', summary: result.summary }) + '\n');
          else process.stderr.write(formatSummary(result.summary, outDir));
        } finally {
          renderer.stop();
          process.off('SIGINT', onSigint);
        }
      },
    );

  withPipelineOpts(
    program
      .command('validate')
      .argument('<file>', 'pipeline YAML')
      .description('check a pipeline without running it'),
  ).action(async (file: string, o: CommonOpts) => {
    const plan = await loadPlan(file, { overrides: o.set, seed: o.seed });
    await checkReferencedFiles(plan);
    process.stdout.write(`${plan.file}: ok (${plan.nodes.size} nodes, ${plan.graph.size} edges)\n`);
  });

  withPipelineOpts(
    program.command('graph').argument('<file>', 'pipeline YAML').description('print the pipeline graph'),
  )
    .addOption(new Option('--format <fmt>', 'output format').choices(['mermaid', 'dot']).default('mermaid'))
    .action(async (file: string, o: CommonOpts & { format: 'mermaid' | 'dot' }) => {
      const plan = await loadPlan(file, { overrides: o.set, seed: o.seed });
      process.stdout.write(
        o.format === 'dot' ? toDot(plan.nodes, plan.graph) : toMermaid(plan.nodes, plan.graph),
      );
    });

  program
    .command('nodes')
    .argument('[type]', 'show one node type in full')
    .description('list node types with their ports and parameters')
    .option('--pipeline <file>', "also list the node types of this pipeline's plugins")
    .option('--plugin <file>', 'also list the node types of this plugin module', collect, [])
    .option('--json', 'machine-readable output')
    .action(async (type: string | undefined, o: { pipeline?: string; plugin: string[]; json?: boolean }) => {
      process.stdout.write(await describeNodes(type, o));
    });

  program
    .command('likelihood-scale')
    .argument('<images>', "a folder, glob or file of images, or 'fashion-mnist:train[0:100]'")
    .description(
      "a prior's likelihood scale b: the pixel standard deviation of its data in [-1, 1] (docs/method.md)",
    )
    .option('--count <n>', 'how many images (the first n)', (v) => Number(v), SCALE_IMAGE_COUNT)
    .option('--size <n>', 'resize image files to n x n (default: the model data size with --write)', (v) =>
      Number(v),
    )
    .option(
      '--channels <n>',
      '1 (grey) or 3 (RGB) (default: the model data channels with --write, else 1)',
      (v) => Number(v),
    )
    .option('--write <dir>', "record b in this model folder's model.yaml")
    .action(
      async (images: string, o: { count: number; size?: number; channels?: number; write?: string }) => {
        await initBackend(undefined);
        process.stdout.write(await likelihoodScaleCommand(images, o));
      },
    );

  program
    .command('convert')
    .argument('<checkpoint>', 'safetensors or PyTorch checkpoint (.ckpt/.pt/.pth/.pkl)')
    .description('turn a checkpoint plus a manifest (model.yaml without weights) into a model folder')
    .requiredOption(
      '--manifest <file>',
      'model.yaml describing architecture, schedule, prediction, classes...',
    )
    .requiredOption('--out <dir>', 'model folder to write (e.g. models/my-ldm)')
    .addOption(
      new Option('--prefer <copy>', 'EMA or raw weights when both exist')
        .choices(['ema', 'model'])
        .default('ema'),
    )
    .option('--opaque', 'read whole-object pickles (NVlabs EDM snapshots) without executing them')
    .option('--root <path>', "torch checkpoints: subtree to read ('auto', 'all' or a dotted path)")
    .option('--overwrite', 'replace an existing folder')
    .action(
      async (
        checkpoint: string,
        o: {
          manifest: string;
          out: string;
          prefer: 'ema' | 'model';
          opaque?: boolean;
          root?: string;
          overwrite?: boolean;
        },
      ) => {
        await initBackend(undefined);
        const r = await convertCheckpoint({
          checkpoint,
          manifest: o.manifest,
          out: o.out,
          prefer: o.prefer,
          opaque: o.opaque,
          root: o.root,
          overwrite: o.overwrite,
        });
        process.stdout.write(
          `wrote ${r.out}: ${r.manifest.kind} '${r.manifest.name}', ${r.kept} tensors, ${r.parameters} parameters (${r.format}; ${r.selection})\n`,
        );
        if (r.dropped.length)
          process.stdout.write(
            `left out ${r.dropped.length} tensors outside the declared prefixes (e.g. ${r.dropped.slice(0, 3).join(', ')})\n`,
          );
      },
    );

  program
    .command('import-lpips')
    .description('make an LPIPS (SqueezeNet) model folder from the official linear weights and the backbone')
    .requiredOption('--lin <file>', 'LPIPS v0.1 linear weights (lpips/weights/v0.1/squeeze.pth)')
    .requiredOption('--backbone <file>', 'SqueezeNet 1.1 ImageNet state dict (torchvision numbering)')
    .requiredOption('--out <dir>', 'model folder to write (e.g. models-local/lpips-squeeze)')
    .option('--overwrite', 'replace an existing folder')
    .action(async (o: { lin: string; backbone: string; out: string; overwrite?: boolean }) => {
      await initBackend(undefined);
      const r = await importLpipsSqueeze(o);
      process.stdout.write(`wrote ${r.out}: perceptual (LPIPS squeeze), ${r.parameters} parameters\n`);
    });

  program
    .command('inspect')
    .argument('<path>', 'a checkpoint file or a model folder')
    .description('show what a checkpoint or model folder holds')
    .option('--opaque', 'read whole-object pickles without executing them')
    .option('--root <path>', "torch checkpoints: subtree to read ('auto', 'all' or a dotted path)")
    .option('--depth <n>', 'key segments per group', (v) => Number(v), 2)
    .action(async (p: string, o: { opaque?: boolean; root?: string; depth: number }) => {
      process.stdout.write(await inspectPath(p, o));
    });

  const cacheCmd = program.command('cache').description('inspect or clear the stage cache');
  cacheCmd
    .command('ls')
    .description('list cache entries')
    .option('--cache-dir <dir>', 'stage cache folder', DEFAULT_CACHE)
    .action(async (o: { cacheDir: string }) => {
      const entries = await new StageCache({ dir: o.cacheDir }).list();
      let total = 0;
      for (const e of entries) {
        total += e.bytes;
        process.stdout.write(
          `${e.key.slice(0, 16)}  ${e.ok ? 'ok     ' : 'CORRUPT'}  ${String(e.bytes).padStart(10)} B  ${e.type.padEnd(20)} ${e.node}  ${e.created}\n`,
        );
      }
      process.stdout.write(`${entries.length} entries, ${total} bytes in ${path.resolve(o.cacheDir)}\n`);
    });
  cacheCmd
    .command('clear')
    .description('delete every cache entry')
    .option('--cache-dir <dir>', 'stage cache folder', DEFAULT_CACHE)
    .action(async (o: { cacheDir: string }) => {
      const n = await new StageCache({ dir: o.cacheDir }).clear();
      process.stdout.write(`removed ${n} entries from ${path.resolve(o.cacheDir)}\n`);
    });

  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    exitCode = reportError(e, debug);
  }
  return exitCode;
}

/**
 * What the graph checks cannot see: files that nodes key their cache on (model folders, mask
 * files) must exist and be readable. Computing each node's extra cache key checks exactly that.
 */
async function checkReferencedFiles(plan: Plan): Promise<void> {
  for (const n of plan.nodes.values()) {
    if (!n.def.cacheKey) continue;
    try {
      await n.def.cacheKey(n.params as never, { baseDir: n.baseDir });
    } catch (e) {
      throw new FlowError(
        `node '${n.id}' (${n.type}): ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
        n.loc,
      );
    }
  }
}

function reportError(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    // Commander already printed its message (or help); help and version exit 0.
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof AbortedError) {
    process.stderr.write('flow: interrupted; no outputs were written\n');
    return 130;
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`flow: ${msg.split('\n')[0]}\n`);
  if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return 1;
}
