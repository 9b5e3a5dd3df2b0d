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
import { presetListing, runConvert, type ConvertCommandOptions } from './convert-command.js';
import { addServeCommand } from './serve-command.js';
import { importLpipsSqueeze } from '../models/lpips-import.js';
import { explainCache } from './cache-explain.js';
import { parseSize } from './parse-size.js';
import { seedProblem } from '../graph/seed.js';
import { flowVersion } from '../runtime/summary.js';
import { runPull, type PullCommandOptions } from './pull-command.js';
import { convertWithPreset } from '../models/presets.js';
import { dotToSvg } from '../report/graph-svg.js';
import { readRunFolder } from '../report/run-folder.js';
import { renderRunReport } from '../report/run-report.js';
import { writeNewFile } from '../io/write-new-file.js';
import { outputFolderOwns, recordOutputFile } from '../runtime/output-marker.js';
import { SCALE_IMAGE_COUNT } from '../models/likelihood-scale.js';
import { likelihoodScaleCommand } from './likelihood-scale-command.js';

const DEFAULT_CACHE = process.env.FLOW_CACHE_DIR ?? '.flow-cache';
const DEFAULT_CACHE_MAX = parseSize(process.env.FLOW_CACHE_MAX ?? '10G');

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function parseSeed(v: string): number {
  const n = /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  const problem = seedProblem(n, `'${v}'`);
  if (problem) throw new FlowError(`--seed ${problem}`);
  return n;
}

function parsePreviewEvery(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new FlowError(`--preview-every must be an integer >= 1, got '${v}'`);
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
    .version(flowVersion(), '-V, --version', 'print the version')
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
    .option(
      '--cache-max <size>',
      'prune the cache to this size after the run (least recently used first)',
      parseSize,
      DEFAULT_CACHE_MAX,
    )
    .addOption(new Option('--log <mode>', 'progress output').choices(['pretty', 'json', 'plain']))
    .option('--items-in-flight <n>', 'items admitted from each source at once', (v) => Number(v), 4)
    .option(
      '--preview-every <k>',
      "solvers' decoded predictions every k steps, as 'preview' events (shown by --log json and flow serve)",
      parsePreviewEvery,
    )
    .action(
      async (
        file: string,
        o: CommonOpts & {
          out?: string;
          backend?: BackendName;
          cache: boolean;
          cacheDir: string;
          cacheMax: number;
          log?: LogMode;
          itemsInFlight: number;
          previewEvery?: number;
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
        const handle = runPlan(plan, {
          outDir,
          cache,
          maxItemsInFlight: o.itemsInFlight,
          previewEvery: o.previewEvery,
        });
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
          if (cache) await cache.prune(o.cacheMax);
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
  )
    .option('--allow-plugins', "load the pipeline's plugins (they run code)")
    .action(async (file: string, o: CommonOpts & { allowPlugins?: boolean }) => {
      const plan = await loadPlan(file, {
        overrides: o.set,
        seed: o.seed,
        allowPlugins: Boolean(o.allowPlugins),
      });
      await checkReferencedFiles(plan);
      process.stdout.write(`${plan.file}: ok (${plan.nodes.size} nodes, ${plan.graph.size} edges)\n`);
    });

  withPipelineOpts(
    program.command('graph').argument('<file>', 'pipeline YAML').description('print the pipeline graph'),
  )
    .addOption(
      new Option('--format <fmt>', 'output format (svg: a picture, rendered in process by Graphviz)')
        .choices(['mermaid', 'dot', 'svg'])
        .default('mermaid'),
    )
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--allow-plugins', "load the pipeline's plugins (they run code)")
    .action(
      async (
        file: string,
        o: CommonOpts & { format: 'mermaid' | 'dot' | 'svg'; out?: string; allowPlugins?: boolean },
      ) => {
        const plan = await loadPlan(file, {
          overrides: o.set,
          seed: o.seed,
          allowPlugins: Boolean(o.allowPlugins),
        });
        const text =
          o.format === 'mermaid'
            ? toMermaid(plan.nodes, plan.graph)
            : o.format === 'dot'
              ? toDot(plan.nodes, plan.graph)
              : await dotToSvg(toDot(plan.nodes, plan.graph));
        if (o.out) await writeNewFile(path.resolve(o.out), text);
        else process.stdout.write(text);
      },
    );

  program
    .command('report')
    .argument('<run-dir>', "a run's output folder (holding run.json)")
    .description('write one self-contained HTML page for a finished run')
    .option('--out <file>', 'HTML file to write (default: <run-dir>/report.html)')
    .action(async (runDir: string, o: { out?: string }) => {
      const run = await readRunFolder(runDir);
      const html = await renderRunReport(run.summary, run.files);
      const out = path.resolve(o.out ?? path.join(run.dir, 'report.html'));
      // Never replaces a file flow did not write; a report inside the run folder joins its marker.
      await writeNewFile(out, html, await outputFolderOwns(run.dir, out));
      await recordOutputFile(run.dir, out);
      process.stdout.write(`wrote ${out} (${(html.length / 1024).toFixed(0)} KiB)\n`);
    });

  program
    .command('nodes')
    .argument('[type]', 'show one node type in full')
    .description('list node types with their ports and parameters')
    .option('--pipeline <file>', "also list the node types of this pipeline's plugins (with --allow-plugins)")
    .option('--allow-plugins', "load the --pipeline's plugins (they run code)")
    .option('--plugin <file>', 'also list the node types of this plugin module', collect, [])
    .option('--json', 'machine-readable output')
    .action(
      async (
        type: string | undefined,
        o: { pipeline?: string; plugin: string[]; json?: boolean; allowPlugins?: boolean },
      ) => {
        process.stdout.write(await describeNodes(type, o));
      },
    );

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
    .argument('[checkpoint]', 'safetensors or PyTorch checkpoint (.ckpt/.pt/.pth/.pkl)')
    .description(
      'turn a checkpoint into a model folder, described by a manifest, a preset or a CompVis config',
    )
    .option('--manifest <file>', 'model.yaml describing architecture, schedule, prediction, classes...')
    .option('--preset <name>', 'a known public checkpoint (see --list-presets)')
    .option('--compvis-config <file>', 'the CompVis config.yaml that ships beside the checkpoint')
    .option('--list-presets', 'list the presets and the files each needs')
    .option('--out <dir>', 'model folder to write (e.g. models/my-ldm)')
    .addOption(
      new Option('--prefer <copy>', 'EMA or raw weights when both exist')
        .choices(['ema', 'model'])
        .default('ema'),
    )
    .option('--opaque', 'read whole-object pickles (NVlabs EDM snapshots) without executing them')
    .option('--root <path>', "torch checkpoints: subtree to read ('auto', 'all' or a dotted path)")
    .option('--overwrite', 'replace an existing folder')
    .action(async (checkpoint: string | undefined, o: ConvertCommandOptions) => {
      if (o.listPresets) {
        process.stdout.write(presetListing());
        return;
      }
      const r = await runConvert(checkpoint, o);
      process.stdout.write(
        `wrote ${r.out}: ${r.manifest.kind} '${r.manifest.name}', ${r.kept} tensors, ${r.parameters} parameters (${r.format}; ${r.selection})\n`,
      );
      if (r.dropped.length)
        process.stdout.write(
          `left out ${r.dropped.length} tensors outside the declared prefixes (e.g. ${r.dropped.slice(0, 3).join(', ')})\n`,
        );
    });

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
    .command('pull')
    .argument('<repo>', 'ORG/REPO[@REVISION] on the hub (revision: branch, tag or commit sha; default main)')
    .description('download a model repo into the local model store, then convert it with its preset')
    .option('--include <glob>', 'only files whose repo path matches (repeatable; default: all)', collect, [])
    .option('--store <dir>', 'model store (default: $FLOW_STORE, $FLOW_HOME, else ~/.cache/flow)')
    .option('--offline', 'serve from the store only; fail if it is not there (also HF_HUB_OFFLINE=1)')
    .option('--endpoint <url>', 'hub base URL (default: $HF_ENDPOINT, else https://huggingface.co)')
    .option('--no-convert', 'download only, even when a preset applies')
    .addHelpText('after', '\nA token for gated or private repos is read from HF_TOKEN.')
    .action(async (repo: string, o: PullCommandOptions) => {
      const convert = async (preset: string, files: readonly string[], out: string) => {
        await initBackend(undefined); // building the networks checks every key and shape
        return convertWithPreset(preset, files, out);
      };
      process.stdout.write(`${await runPull(repo, o, convert)}\n`);
    });

  program
    .command('inspect')
    .argument('<path>', 'a checkpoint file or a model folder')
    .description('show what a checkpoint or model folder holds')
    .option('--opaque', 'read whole-object pickles without executing them')
    .option('--root <path>', "torch checkpoints: subtree to read ('auto', 'all' or a dotted path)")
    .option('--depth <n>', 'key segments per group', (v) => Number(v), 2)
    .option('--tensors', 'list every tensor with its dtype and shape')
    .action(async (p: string, o: { opaque?: boolean; root?: string; depth: number; tensors?: boolean }) => {
      process.stdout.write(await inspectPath(p, o));
    });

  addServeCommand(program, DEFAULT_CACHE);

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

  cacheCmd
    .command('prune')
    .description('remove least-recently-used entries until the cache fits the size cap')
    .option(
      '--max <size>',
      'size cap, e.g. 500M or 10G (default: FLOW_CACHE_MAX or 10G)',
      parseSize,
      DEFAULT_CACHE_MAX,
    )
    .option('--cache-dir <dir>', 'stage cache folder', DEFAULT_CACHE)
    .action(async (o: { cacheDir: string; max: number }) => {
      const r = await new StageCache({ dir: o.cacheDir }).prune(o.max);
      process.stdout.write(
        `removed ${r.removed} least-recently-used entries (${r.freed} B); ${r.kept} B left in ${path.resolve(o.cacheDir)}\n`,
      );
    });
  withPipelineOpts(
    cacheCmd
      .command('explain')
      .argument('<file>', 'pipeline YAML')
      .description(
        'say for each node whether the cache holds an entry for its code and params, or what changed',
      ),
  )
    .option('--cache-dir <dir>', 'stage cache folder', DEFAULT_CACHE)
    .option('--allow-plugins', "load the pipeline's plugins (they run code)")
    .action(async (file: string, o: CommonOpts & { cacheDir: string; allowPlugins?: boolean }) => {
      const plan = await loadPlan(file, {
        overrides: o.set,
        seed: o.seed,
        allowPlugins: Boolean(o.allowPlugins),
      });
      process.stdout.write(await explainCache(plan, new StageCache({ dir: o.cacheDir })));
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
