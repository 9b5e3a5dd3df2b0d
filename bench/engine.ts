/**
 * Engine overhead and cache speed-up.
 *
 *   node --import tsx bench/engine.ts [items=1000]
 *
 * 1. A pipeline of four trivial nodes (source -> scale -> add -> total) over N items, run by the
 *    engine with the cache off, against the same node functions called directly in a loop (the
 *    work itself). Reports the engine's overhead per node execution and per item.
 * 2. The same pipeline with a disk cache: cold run (computes and writes every entry) and warm run
 *    (all hits), as ratios to the uncached run.
 * 3. measure-demo (real image work: load, three operators, metrics, PNG grids): cold vs warm.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/runtime/backend.js';
import { loadPlan } from '../src/graph/plan.js';
import { runPlan, type RunOptions } from '../src/runtime/execute.js';
import { StageCache } from '../src/runtime/cache.js';
import { makeTestContext } from '../test/helpers/context.js';
import trivial from '../test/fixtures/engine/trivial-nodes.js';
import type { NodeDefinition } from '../src/nodes/define.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const N = Number(process.argv[2] ?? 1000);

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function runOnce(file: string, opts: RunOptions): Promise<void> {
  const plan = await loadPlan(file);
  await runPlan(plan, opts).result;
}

function byType(type: string): NodeDefinition<never> {
  const d = (trivial as NodeDefinition<never>[]).find((x) => x.type === type);
  if (!d) throw new Error(type);
  return d;
}

/** The same work without the engine: call each node's run function in a loop, disposing as we go. */
async function direct(n: number): Promise<void> {
  const [count, scale, add, total] = ['test.count', 'test.scale', 'test.add', 'test.total'].map(
    byType,
  ) as NodeDefinition<never>[];
  for (let i = 0; i < n; i++) {
    const ctx = makeTestContext({ item: { key: `i${i}`, index: i, meta: { i } } });
    const a = (await count.run({}, { n, size: 8 } as never, ctx)).value as tf.Tensor;
    const b = (await scale.run({ x: a }, { factor: 2 } as never, ctx)).y as tf.Tensor;
    const c = (await add.run({ a, b, c: 10 }, {} as never, ctx)).y as tf.Tensor;
    await total.run({ x: c }, {} as never, ctx);
    tf.dispose([a, b, c]);
  }
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  const dir = await mkdtemp(path.join(tmpdir(), 'flow-bench-'));
  const file = path.join(dir, 'p.yaml');
  await writeFile(
    file,
    `version: 1\nname: bench\nparams: { seed: 0 }\nplugins: [${path.join(repo, 'test/fixtures/engine/trivial-nodes.ts')}]\nnodes:\n` +
      `  src: { type: test.count, params: { n: ${N}, size: 8 } }\n` +
      `  double: { type: test.scale, inputs: { x: src.value }, params: { factor: 2 } }\n` +
      `  k: { type: test.constant, params: { value: 10 } }\n` +
      `  sum: { type: test.add, inputs: { a: src.value, b: double.y, c: k.value } }\n` +
      `  total: { type: test.total, inputs: { x: sum.y } }\n`,
  );
  // Warm up both paths (JIT, wasm init, plugin import).
  await direct(50);
  await runOnce(file, { cache: false });

  const reps = 3;
  const directMs: number[] = [];
  const engineMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    directMs.push(await timed(() => direct(N)));
    engineMs.push(await timed(() => runOnce(file, { cache: false })));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const d = median(directMs);
  const e = median(engineMs);
  const nodeExecutions = N * 4 + 1;
  console.log(`backend ${backend.name}; ${N} items x 4 per-item nodes (+1 run-wide)`);
  console.log(`  work itself (direct calls):   ${d.toFixed(0)} ms`);
  console.log(
    `  engine, cache off:            ${e.toFixed(0)} ms   (ratio engine/direct ${(e / d).toFixed(2)})`,
  );
  console.log(`  overhead per node execution:  ${(((e - d) / nodeExecutions) * 1000).toFixed(0)} us`);
  console.log(`  overhead per item:            ${(((e - d) / N) * 1000).toFixed(0)} us`);

  const cacheDir = path.join(dir, 'cache');
  const cold = await timed(() => runOnce(file, { cache: new StageCache({ dir: cacheDir }) }));
  const warm = await timed(() => runOnce(file, { cache: new StageCache({ dir: cacheDir }) }));
  console.log(
    `  disk cache cold (compute + write): ${cold.toFixed(0)} ms (ratio to cache off ${(cold / e).toFixed(2)})`,
  );
  console.log(
    `  disk cache warm (all hits):        ${warm.toFixed(0)} ms (speed-up over cache off ${(e / warm).toFixed(2)}x)`,
  );

  const demo = path.join(repo, 'pipelines/measure-demo.yaml');
  const demoCache = path.join(dir, 'demo-cache');
  const out = path.join(dir, 'out');
  const demoCold = await timed(() =>
    runOnce(demo, { cache: new StageCache({ dir: demoCache }), outDir: out }),
  );
  const demoWarm = await timed(() =>
    runOnce(demo, { cache: new StageCache({ dir: demoCache }), outDir: out }),
  );
  console.log(
    `measure-demo (4 images, 13 nodes): cold ${demoCold.toFixed(0)} ms, warm ${demoWarm.toFixed(0)} ms, speed-up ${(demoCold / demoWarm).toFixed(1)}x`,
  );
  await rm(dir, { recursive: true, force: true });
}

await main();
