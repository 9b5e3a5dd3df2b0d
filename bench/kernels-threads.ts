/**
 * Experiment: can tfjs-backend-wasm's multi-threaded build (tfjs-backend-wasm-threaded-simd.wasm,
 * XNNPACK thread pool via emscripten pthreads = Node worker_threads + SharedArrayBuffer) run
 * under Node 20? Not used by flow; the outcome is recorded in bench/README.md.
 *   node --import tsx bench/kernels-threads.ts [--single] [--patch] [--threads N] [--logical-cores N]
 *     [--no-exit]
 * --single: the default single-threaded SIMD build, for comparison. Otherwise: force tfjs's
 * WASM_HAS_MULTITHREAD_SUPPORT flag (tfjs hard-codes it to false in Node, tfjs issue #3830) and
 * initialise. With --patch: additionally work around the two
 * browser-only steps of tfjs's loader (the pthread worker script and the main script are handed
 * over as Blob URLs, which Node's Worker and the worker's importScripts cannot load) by writing
 * the worker script to a temporary file that loads the glue from node_modules.
 * With --logical-cores N: make os.cpus() report N CPUs. The wasm side caps XNNPACK's pool at
 * emscripten_num_logical_cores() / 2 (it assumes 2 hyperthreads per core), which is
 * os.cpus().length / 2 = 1 on this 2-CPU machine, whatever setThreadsCount asks for.
 */
import * as tf from '@tensorflow/tfjs';
import * as wasmBackend from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const patch = args.includes('--patch');
const single = args.includes('--single');
const threadsAt = args.indexOf('--threads');
const threads = threadsAt >= 0 ? Number(args[threadsAt + 1]) : 2;
const coresAt = args.indexOf('--logical-cores');
const logicalCores = coresAt >= 0 ? Number(args[coresAt + 1]) : undefined;

function installWorkerPatch(): void {
  const require = createRequire(import.meta.url);
  const gluePath =
    require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } =
    require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
      wasmWorkerContents: string;
    };
  const blobBranch =
    'var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)';
  if (!wasmWorkerContents.includes(blobBranch))
    throw new Error('worker script layout changed; patch does not apply');
  const worker = wasmWorkerContents
    .replace(blobBranch, `importScripts(${JSON.stringify(gluePath)})`)
    .replace(/\n/g, '\\n'); // as tfjs does before making its Blob
  const dir = mkdtempSync(join(tmpdir(), 'flow-wasm-threads-'));
  const workerPath = join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js');
  writeFileSync(workerPath, worker);
  const original = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (obj: Blob): string =>
    obj.type === 'application/javascript' ? workerPath : original(obj);
  console.log(`patch: worker script at ${workerPath}, glue ${gluePath}`);
}

/** CPU ticks (utime + stime) per OS thread of this process (Linux /proc), to see who worked. */
function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, Number(fields[11]) + Number(fields[12]));
    }
  } catch {
    // not Linux: no per-thread report
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  if (patch) installWorkerPatch();
  if (logicalCores !== undefined) {
    const real = os.cpus();
    os.cpus = () => Array.from({ length: logicalCores }, (_, i) => real[i % real.length] as os.CpuInfo);
    console.log(`os.cpus() now reports ${logicalCores} CPUs (really ${real.length})`);
  }
  if (!single) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasmBackend.setThreadsCount(threads);
  }
  const ok = await Promise.race([
    tf.setBackend('wasm'),
    new Promise<string>((r) => setTimeout(() => r('timed out after 30 s'), 30_000)),
  ]);
  if (ok !== true) {
    console.log(`wasm threaded init: ${String(ok)}`);
    return;
  }
  console.log(
    `wasm init ok (${single ? 'single-threaded build' : 'threaded build'}); XNNPACK threads: ${wasmBackend.getThreadsCount()}`,
  );
  const x = tf.randomNormal([1, 64, 64, 64]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
  const a = tf.randomNormal([1024, 1024]) as tf.Tensor2D;
  for (const [name, f] of [
    ['conv 1x64x64x64 * 3x3x64x64', () => tf.conv2d(x, w, 1, 'same')],
    ['matmul 1024^2', () => tf.matMul(a, a)],
  ] as [string, () => tf.Tensor][]) {
    f().dispose();
    const ticks0 = threadTicks();
    const walls: number[] = [];
    const cpus: number[] = [];
    for (let i = 0; i < 7; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const out = f();
      out.dataSync();
      walls.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpus.push((c.user + c.system) / 1000);
      out.dispose();
    }
    const busy = [...threadTicks()]
      .map(([tid, t]) => [tid, t - (ticks0.get(tid) ?? 0)] as const)
      .filter(([, dt]) => dt > 0)
      .map(([tid, dt]) => `${tid}:${dt}`);
    console.log(`${name}: wall ${median(walls).toFixed(1)} ms, process CPU ${median(cpus).toFixed(1)} ms`);
    console.log(`  CPU ticks (1/100 s) per busy thread over the 7 runs: ${busy.join(' ')}`);
  }
  // Same numbers as the cpu backend?
  const onWasm = tf.conv2d(x, w, 1, 'same').dataSync().slice();
  const xs = x.dataSync().slice();
  const ws = w.dataSync().slice();
  await tf.setBackend('cpu');
  const ref = tf.conv2d(tf.tensor4d(xs, x.shape), tf.tensor4d(ws, w.shape), 1, 'same').dataSync();
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs((onWasm[i] as number) - (ref[i] as number)));
    den = Math.max(den, Math.abs(ref[i] as number));
  }
  console.log(`conv vs cpu backend: max rel error ${(num / den).toExponential(2)}`);
}

try {
  await main();
} catch (e) {
  console.log('error:', e instanceof Error ? e.message : e);
}
// The pthread workers keep the event loop alive (check with --no-exit).
if (!args.includes('--no-exit')) process.exit(0);
