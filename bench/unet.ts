/**
 * Diffusion-network benchmark (issue 3, "Performance"): the LSUN-Church LDM UNet (CompVis
 * configs/latent-diffusion/lsun_churches-ldm-kl-8.yaml, 295 M parameters) at a 16x16x4 input,
 * random weights, on tfjs wasm and cpu, against PyTorch 1.13 (bench/torch_unet.py) in the same
 * command.
 *
 *   node --import tsx bench/unet.ts [--reps N] [--backends wasm,cpu] [--batches 1,10]
 *                                   [--torch-threads 1,2] [--no-torch] [--no-profile] [--no-search]
 *
 * `forward` = net.forward(x, t) read back with dataSync; `input grad` = tf.grad of
 * sum(net.forward(x, t) * r) with respect to x (forward included, as in PyTorch's autograd.grad).
 * Medians over N repetitions (default 3) after one warm-up; the cpu backend (~50x slower) runs
 * batch 1 only, once, cold. Wall clock and process CPU time are both reported: the machine is
 * shared, tfjs wasm runs on one thread, so its CPU time estimates its time on an idle core and the
 * fair comparison is with PyTorch's 1-thread CPU time.
 *
 * Each tfjs configuration runs in a child process of this script (`--child <json>`): the wasm heap
 * is 32-bit and never shrinks, and running out of it aborts the wasm module, so every measurement
 * that may not fit gets a fresh heap, and a crash is reported instead of ending the benchmark.
 * wasm runs twice: with flow's default (Conv2d keeps a flipped copy of every kernel for the input
 * gradient) and without that cache (WeightStore.cacheFlippedKernels = false, the flip is redone on
 * every call). When a batch's input gradient does not fit, the largest batch that fits is searched
 * (bisection, one child per probe, 1 rep after a warm-up). One wasm forward and one input gradient at
 * batch 1 are profiled per kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { timeMedian, type Timing } from './timing.js';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TensorMap } from '../src/checkpoint/types.js';
import { initBackend, type BackendName } from '../src/runtime/backend.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../src/networks/unet-openai.js';
import { WeightStore } from '../src/networks/weights.js';
import { Rng } from '../src/util/random.js';

// Another listed configuration and latent size by environment (inherited by the children), e.g.
// BENCH_UNET_CONFIG=openai:cin256-v2 BENCH_UNET_SIZE=64 (cross-attention UNets get a random
// one-token context, in bench/torch_unet.py too).
const CONFIG_NAME = process.env.BENCH_UNET_CONFIG ?? 'openai:lsun_churches-ldm-kl-8';
const SIZE = Number(process.env.BENCH_UNET_SIZE ?? 16); // latent side; must divide by 2^(levels-1)
const RESULT_TAG = '@@result ';

type Pass = 'forward' | 'inputGrad';
/** One measurement as a child reports it: a timing, or why it failed; memory after it. */
interface Measurement {
  batch: number;
  pass: Pass;
  timing?: Timing;
  error?: string;
  tensorsGiB: number;
  heapGiB?: number;
}
interface ChildSpec {
  backend: BackendName;
  flipCache: boolean;
  batches: number[];
  passes: Pass[];
  reps: number;
  /** Passes to profile per kernel, at the first batch in `batches` (after its measurements). */
  profile: Pass[];
}

// ---------------------------------------------------------------- child: measure one configuration

function loadConfig(): { config: OpenAIUNetConfig; keys: [string, number[]][] } {
  const path = fileURLToPath(new URL('../test/fixtures/networks/unet-keys.json', import.meta.url));
  const all = JSON.parse(readFileSync(path, 'utf8')) as Record<
    string,
    { config: OpenAIUNetConfig; keys: [string, number[]][] }
  >;
  const entry = all[CONFIG_NAME];
  if (!entry) throw new Error(`${path} has no ${CONFIG_NAME}`);
  return entry;
}

/**
 * Random weights under the official key names, scaled as the parity fixtures are (fan-in scaled
 * normals, norms near identity): the values do not change the cost, but sane activations keep
 * denormals and overflow out of the timing. Drawn from a pool of 2^20 normals at random offsets,
 * because 295 M Box-Muller draws take ~25 s per process.
 */
function randomWeights(keys: [string, number[]][], rng: Rng): TensorMap {
  const pool = rng.normalArray(1 << 20);
  const map: TensorMap = new Map();
  for (const [name, shape] of keys) {
    const n = shape.reduce((p, q) => p * q, 1);
    const data = new Float32Array(n);
    const scale = shape.length === 1 ? 0.2 : 1 / Math.sqrt(n / (shape[0] as number));
    const offset = shape.length === 1 && name.endsWith('.weight') ? 1 : 0;
    let j = rng.int(0, pool.length);
    for (let i = 0; i < n; i++, j = (j + 1) & (pool.length - 1))
      data[i] = offset + scale * (pool[j] as number);
    map.set(name, { dtype: 'float32', shape, data });
  }
  return map;
}

function memory(): { tensorsGiB: number; heapGiB?: number } {
  // The emscripten module's view of its memory (not in tfjs' type declarations).
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  const heap = tf.getBackend() === 'wasm' ? wasm?.HEAPU8?.buffer.byteLength : undefined;
  return {
    tensorsGiB: tf.memory().numBytes / 2 ** 30,
    heapGiB: heap === undefined ? undefined : heap / 2 ** 30,
  };
}

interface Inputs {
  x: tf.Tensor4D;
  t: tf.Tensor1D;
  r: tf.Tensor4D;
  context?: tf.Tensor3D;
}

function makeInputs(batch: number, config: OpenAIUNetConfig, rng: Rng): Inputs {
  const x = rng.normalTensor<tf.Tensor4D>([batch, SIZE, SIZE, config.in_channels]);
  const r = rng.normalTensor<tf.Tensor4D>([batch, SIZE, SIZE, config.out_channels]);
  const times = Array.from({ length: batch }, (_, i) => (batch === 1 ? 500 : 10 + (980 * i) / (batch - 1)));
  const dim = config.context_dim;
  const context = typeof dim === 'number' ? rng.normalTensor<tf.Tensor3D>([batch, 1, dim]) : undefined;
  return { x, t: tf.tensor1d(times), r, context };
}

function forward(net: OpenAIUNet, { x, t, context }: Inputs): tf.Tensor {
  return net.forward(x, t, undefined, context);
}

function inputGradient(net: OpenAIUNet, { x, t, r, context }: Inputs): tf.Tensor {
  return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(net.forward(v as tf.Tensor4D, t, undefined, context), r)))(
    x,
  );
}

interface KernelTotal {
  key: string;
  ms: number;
  calls: number;
}

/** Profile one call per kernel (tf.profile; wasm kernels are synchronous, so their times are exact). */
async function profileCall(label: string, f: () => tf.Tensor): Promise<void> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const info = await tf.profile(() => {
    const out = f();
    out.dataSync();
    return out;
  });
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const byName = new Map<string, KernelTotal>();
  const byShape = new Map<string, KernelTotal>();
  const add = (m: Map<string, KernelTotal>, key: string, ms: number) => {
    const e = m.get(key) ?? { key, ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    m.set(key, e);
  };
  let total = 0;
  let scopeMs = 0;
  let scopes = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    // tf.customGrad / op scopes are recorded too, and their time includes the kernels inside them.
    if (tf.getKernel(k.name, tf.getBackend()) === undefined) {
      scopeMs += ms;
      scopes += 1;
      continue;
    }
    total += ms;
    add(byName, k.name, ms);
    add(byShape, `${k.name} ${k.inputShapes.map((s) => (s ? `[${s.join(',')}]` : '-')).join(' ')}`, ms);
  }
  console.log(
    `\nprofile, ${label}: ${info.kernels.length - scopes} kernel calls, ${total.toFixed(0)} ms in kernels` +
      ` (call: wall ${wall.toFixed(0)} ms, process CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms;` +
      ` ${scopes} scopes around kernels, ${scopeMs.toFixed(0)} ms, not counted again);` +
      ` peak tensor memory ${(info.peakBytes / 2 ** 30).toFixed(2)} GiB, ${(info.newBytes / 2 ** 30).toFixed(2)} GiB left`,
  );
  const top = (m: Map<string, KernelTotal>, n: number, width: number) => {
    for (const e of [...m.values()].sort((a, b) => b.ms - a.ms).slice(0, n)) {
      console.log(
        `  ${e.key.padEnd(width)} ${e.ms.toFixed(1).padStart(8)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)} %` +
          ` ${String(e.calls).padStart(5)} calls`,
      );
    }
  };
  console.log(' by kernel:');
  top(byName, 12, 22);
  console.log(' by kernel and input shapes:');
  top(byShape, 10, 62);
}

/**
 * What one input-gradient step costs per 3x3x768x768 kernel (the level-4 and middle convolutions,
 * at 1x1 to 2x2 resolution, hold most parameters): flipping the kernel with tf.reverse (what
 * Conv2d does without its cache), the same reordering as 9 contiguous slices + concat, the in/out
 * transpose, and XNNPACK's packing of a filter it has not seen (conv with a fresh copy vs a cached
 * filter), all at the 3x3 padded input of the 1x1 level. CPU ms, median of 3 after a warm-up.
 */
function flipCosts(): void {
  const w = new Rng(5).normalTensor<tf.Tensor4D>([3, 3, 768, 768]);
  const x = new Rng(6).normalTensor<tf.Tensor4D>([1, 3, 3, 768]);
  const nineSlices = () =>
    tf.tidy(() => {
      const rows = tf.reshape(w, [9, 768 * 768]);
      const parts = Array.from({ length: 9 }, (_, k) => tf.slice(rows, [8 - k, 0], [1, 768 * 768]));
      return tf.reshape(tf.concat(parts, 0), [3, 3, 768, 768]);
    });
  const cases: [string, () => tf.Tensor][] = [
    ['tf.reverse(w, [0, 1])', () => tf.reverse(w, [0, 1])],
    ['9 contiguous slices + concat', nineSlices],
    ['transpose [0, 1, 3, 2]', () => tf.transpose(w, [0, 1, 3, 2])],
    ['copy of w (tf.clone)', () => tf.clone(w)],
    ['conv2d, cached filter', () => tf.conv2d(x, w, 1, 'valid')],
    ['conv2d, fresh copy of filter', () => tf.tidy(() => tf.conv2d(x, tf.clone(w), 1, 'valid'))],
  ];
  console.log('\nper-kernel costs of the flipped-kernel input gradient, 3x3x768x768 (CPU ms, median of 3):');
  for (const [label, f] of cases)
    console.log(`  ${label.padEnd(30)} ${fmt(timeMedian(3, true, f).cpu).padStart(7)}`);
  tf.dispose([w, x]);
}

async function runChild(spec: ChildSpec): Promise<void> {
  const { config, keys } = loadConfig();
  await initBackend(spec.backend);
  const store = new WeightStore(randomWeights(keys, new Rng(2026)));
  store.cacheFlippedKernels = spec.flipCache;
  const net = new OpenAIUNet(store, config);
  store.finish('OpenAIUNet');
  const slow = spec.backend === 'cpu';
  const rng = new Rng(7);
  for (const batch of spec.batches) {
    const inputs = makeInputs(batch, config, rng);
    for (const pass of spec.passes) {
      const m: Measurement = { batch, pass, tensorsGiB: 0 };
      try {
        m.timing = timeMedian(spec.reps, !slow, () =>
          pass === 'forward' ? forward(net, inputs) : inputGradient(net, inputs),
        );
      } catch (e) {
        m.error = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      }
      Object.assign(m, memory());
      console.log(RESULT_TAG + JSON.stringify(m));
      if (m.error !== undefined) return; // the wasm module may be unusable now
    }
    if (batch === spec.batches[0]) {
      for (const pass of spec.profile) {
        await profileCall(
          `${spec.backend} ${pass === 'forward' ? 'forward' : 'input gradient'}, batch ${batch}`,
          () => (pass === 'forward' ? forward(net, inputs) : inputGradient(net, inputs)),
        );
      }
      if (spec.profile.length > 0 && spec.backend === 'wasm') flipCosts();
    }
    tf.dispose([inputs.x, inputs.t, inputs.r, ...(inputs.context ? [inputs.context] : [])]);
  }
  store.dispose();
}

// ---------------------------------------------------------------- parent: orchestrate and report

/** Run one child; echo its output (indented); collect its measurements; report a crash. */
function child(spec: ChildSpec): Promise<{ results: Measurement[]; crash?: string }> {
  const script = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, ['--import', 'tsx', script, '--child', JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const results: Measurement[] = [];
  let lastErr = '';
  createInterface({ input: proc.stdout }).on('line', (line) => {
    if (line.startsWith(RESULT_TAG)) {
      const m = JSON.parse(line.slice(RESULT_TAG.length)) as Measurement;
      results.push(m);
      const mem = `tensors ${m.tensorsGiB.toFixed(2)} GiB${m.heapGiB === undefined ? '' : `, wasm heap ${m.heapGiB.toFixed(2)} GiB`}`;
      console.log(`  [${describe(spec)}] batch ${m.batch} ${m.pass}: ${show(m)}; ${mem}`);
    } else console.log(`  ${line}`);
  });
  createInterface({ input: proc.stderr }).on('line', (line) => {
    if (/error|abort/i.test(line) && line.length < 300) lastErr = line.trim();
  });
  return new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      const crash =
        code === 0 ? undefined : `child exited (${signal ?? `code ${code}`}): ${lastErr || 'no message'}`;
      if (crash) console.log(`  [${describe(spec)}] ${crash}`);
      resolve({ results, crash });
    });
  });
}

function describe(s: ChildSpec): string {
  return s.backend === 'wasm' ? `wasm, flip cache ${s.flipCache ? 'on' : 'off'}` : s.backend;
}

function fmt(v: number | undefined): string {
  return v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function show(m: Measurement): string {
  return m.timing ? `wall ${fmt(m.timing.wall)} ms, CPU ${fmt(m.timing.cpu)} ms` : `FAILED: ${m.error}`;
}

function ratio(p: number | undefined, q: number | undefined): string {
  return p !== undefined && q !== undefined && q > 0 ? (p / q).toFixed(2) : '-';
}

function listArg(args: string[], flag: string, fallback: string): string[] {
  const at = args.indexOf(flag);
  return (at >= 0 ? (args[at + 1] ?? '') : fallback).split(',').filter((s) => s.length > 0);
}

function loadLine(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

interface TorchOut {
  version: string;
  blas: string[];
  capability: string;
  params: number;
  results: Record<string, Record<Pass, Timing>>;
}

/**
 * One PyTorch process per thread count, with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set too:
 * torch.set_num_threads governs oneDNN's OpenMP pool, but OpenBLAS (the attention and Linear
 * matrix products) keeps its own pthread pool, sized by its variable when the library loads.
 */
async function benchTorch(
  config: OpenAIUNetConfig,
  batches: number[],
  reps: number,
  threads: number[],
): Promise<TorchOut | string> {
  const script = fileURLToPath(new URL('./torch_unet.py', import.meta.url));
  let merged: TorchOut | undefined;
  for (const th of threads) {
    const env = { ...process.env, OMP_NUM_THREADS: String(th), OPENBLAS_NUM_THREADS: String(th) };
    const arg = JSON.stringify({ config, size: SIZE, batches, reps, threads: [th] });
    const proc = spawn('/usr/bin/python3', [script, arg], { env });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
    if (code !== 0) return `python (${th} threads) failed: ${err.trim().split('\n').pop()}`;
    const r = JSON.parse(out) as TorchOut;
    if (merged) Object.assign(merged.results, r.results);
    else merged = r;
  }
  return merged ?? 'no thread counts given';
}

/** Largest batch in (lo, hi) whose input gradient fits, given that lo fits and hi does not. */
async function largestFitting(
  lo: number,
  hi: number,
  reps: number,
  flipCache: boolean,
): Promise<Measurement | undefined> {
  let best: Measurement | undefined;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const { results } = await child({
      backend: 'wasm',
      flipCache,
      batches: [mid],
      passes: ['inputGrad'],
      reps,
      profile: [],
    });
    const m = results.find((r) => r.pass === 'inputGrad' && r.timing);
    if (m) {
      best = m;
      lo = mid;
    } else hi = mid;
  }
  return best;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const childAt = args.indexOf('--child');
  if (childAt >= 0) return runChild(JSON.parse(args[childAt + 1] as string) as ChildSpec);

  const repsAt = args.indexOf('--reps');
  const reps = repsAt >= 0 ? Number(args[repsAt + 1]) : 3;
  const backends = listArg(args, '--backends', 'wasm,cpu') as BackendName[];
  const batches = listArg(args, '--batches', '1,10').map(Number);
  const threads = listArg(args, '--torch-threads', '1,2').map(Number);
  const started = new Date();
  const { config } = loadConfig();
  console.log(
    `${started.toISOString()}  load average ${loadLine()}; reps ${reps}; ${CONFIG_NAME} ${JSON.stringify(config)}`,
  );
  console.log(
    `input ${SIZE}x${SIZE}x${config.in_channels}, random weights; cpu backend: batch 1, 1 rep, cold`,
  );

  const loads: number[] = [loadavg()[0] as number];
  const rows = new Map<string, Measurement[]>(); // column -> measurements
  if (backends.includes('wasm')) {
    const all = { backend: 'wasm' as const, batches, passes: ['forward', 'inputGrad'] as Pass[], reps };
    const on = await child({ ...all, flipCache: true, batches: [1], profile: [] });
    rows.set('wasm cache on', on.results);
    const off = await child({
      ...all,
      flipCache: false,
      profile: args.includes('--no-profile') ? [] : ['forward', 'inputGrad'],
    });
    rows.set('wasm', off.results);
    loads.push(loadavg()[0] as number);
    const fits = off.results.filter((m) => m.pass === 'inputGrad' && m.timing).map((m) => m.batch);
    const failed = batches.find((b) => !fits.includes(b));
    if (failed !== undefined && !args.includes('--no-search')) {
      const lo = Math.max(0, ...fits.filter((b) => b < failed));
      console.log(
        `\nwasm input gradient does not fit at batch ${failed}: searching the largest batch in (${lo}, ${failed})`,
      );
      const best = lo > 0 ? await largestFitting(lo, failed, 1, false) : undefined;
      if (best) off.results.push(best);
      console.log(`largest batch whose wasm input gradient fits: ${best?.batch ?? lo}`);
    }
  }
  if (backends.includes('cpu')) {
    const cpu = await child({
      backend: 'cpu',
      flipCache: true,
      batches: [1],
      passes: ['forward', 'inputGrad'],
      reps: 1,
      profile: [],
    });
    rows.set('tfjs-cpu', cpu.results);
    loads.push(loadavg()[0] as number);
  }

  let torch: TorchOut | string = 'skipped (--no-torch)';
  if (!args.includes('--no-torch')) {
    const tt = performance.now();
    const allBatches = [...new Set([...batches, ...(rows.get('wasm') ?? []).map((m) => m.batch)])].sort(
      (a, b) => a - b,
    );
    torch = await benchTorch(config, allBatches, reps, threads);
    console.log(`\ntorch run took ${((performance.now() - tt) / 1000).toFixed(0)} s`);
    loads.push(loadavg()[0] as number);
  }
  if (typeof torch === 'string') console.log(`torch: ${torch}`);
  else
    console.log(
      `torch ${torch.version} (${torch.capability}; BLAS ${torch.blas.join(', ')}), ${(torch.params / 1e6).toFixed(1)} M parameters`,
    );

  const get = (col: string, b: number, p: Pass) => rows.get(col)?.find((m) => m.batch === b && m.pass === p);
  const tr = (th: number | undefined, b: number, p: Pass) =>
    typeof torch === 'string' || th === undefined ? undefined : torch.results[`${th}|${b}`]?.[p];
  console.log(
    '\nmedian ms; "CPU" = process CPU time, "wall" = wall clock; ratio = flow / torch (t1, t2: threads)',
  );
  const head = ['wasm CPU', 'wasm wall', 'tfcpu CPU', 'tfcpu wall', 't1 CPU', 't1 wall', 't2 CPU', 't2 wall'];
  const rhead = ['wasm/t1 CPU', 'wasm/t1 wall', 'wasm/t2 wall', 'cpu/t1 CPU'];
  console.log(
    `${'batch pass'.padEnd(16)}${head.map((h) => h.padStart(11)).join('')}${rhead.map((h) => h.padStart(13)).join('')}`,
  );
  const allBatches = [...new Set([...batches, ...(rows.get('wasm') ?? []).map((m) => m.batch)])].sort(
    (a, b) => a - b,
  );
  for (const b of allBatches) {
    for (const p of ['forward', 'inputGrad'] as const) {
      const w = get('wasm', b, p)?.timing;
      const c = get('tfjs-cpu', b, p)?.timing;
      const t1 = tr(threads[0], b, p);
      const t2 = tr(threads[1], b, p);
      const cells = [w?.cpu, w?.wall, c?.cpu, c?.wall, t1?.cpu, t1?.wall, t2?.cpu, t2?.wall];
      const rs = [
        ratio(w?.cpu, t1?.cpu),
        ratio(w?.wall, t1?.wall),
        ratio(w?.wall, t2?.wall),
        ratio(c?.cpu, t1?.cpu),
      ];
      console.log(
        `${`${b} ${p === 'forward' ? 'forward' : 'input grad'}`.padEnd(16)}${cells.map((v) => fmt(v).padStart(11)).join('')}${rs.map((s) => s.padStart(13)).join('')}`,
      );
    }
  }
  for (const [col, ms] of rows) {
    for (const m of ms)
      if (m.error)
        console.log(`${col}, batch ${m.batch} ${m.pass}: FAILED (${m.error}); heap ${fmt(m.heapGiB)} GiB`);
  }
  const cached = get('wasm cache on', 1, 'inputGrad');
  if (cached?.timing)
    console.log(`wasm with flow's default flipped-kernel cache, batch 1 input grad: ${show(cached)}`);
  console.log(
    `\nload average (1 min) at start, after wasm, after cpu, after torch: ${loads.map((l) => l.toFixed(1)).join(', ')}` +
      `; now ${loadLine()}; total ${((Date.now() - started.getTime()) / 60000).toFixed(1)} min`,
  );
}

await main();
