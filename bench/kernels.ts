/**
 * Conv gradient benchmark: forward conv, stock vs replacement input gradient, and filter gradient,
 * on tfjs wasm and cpu, against PyTorch (CPU, 1 and 2 threads) in the same command.
 *   node --import tsx bench/kernels.ts [--reps N] [--no-cpu] [--no-torch]
 * Times are medians over N repetitions after one warm-up, in milliseconds (wall clock; tfjs
 * results are read back with dataSync so that the work is really done).
 */
import * as tf from '@tensorflow/tfjs';
import { timeMedian, type Timing } from './timing.js';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { initBackend, type BackendName } from '../src/runtime/backend.js';
import {
  conv2dFilterGradient,
  conv2dInputGradient,
  registerWasmKernels,
  stockWasmKernel,
} from '../src/runtime/kernels/index.js';
import { Rng } from '../src/util/random.js';

interface BenchCase {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  /** Symmetric explicit padding, as the networks' tf.pad + 'valid' (PyTorch padding=p). */
  pad: number;
}

const CASES: BenchCase[] = [
  { name: '1x64x64x64 * 3x3x64x64 s1 p1', x: [1, 64, 64, 64], w: [3, 3, 64, 64], stride: 1, pad: 1 },
  { name: '1x32x32x128 * 3x3x128x128 s2 p1', x: [1, 32, 32, 128], w: [3, 3, 128, 128], stride: 2, pad: 1 },
  // Low resolution, many channels: per-call filter handling (flip, XNNPACK weight packing) dominates.
  { name: '1x8x8x512 * 3x3x512x512 s1 p1', x: [1, 8, 8, 512], w: [3, 3, 512, 512], stride: 1, pad: 1 },
];

type Row = Record<string, Timing | undefined>;

function explicit(p: number): [[number, number], [number, number], [number, number], [number, number]] {
  return [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
}

async function benchTfjs(backend: BackendName, c: BenchCase, repsIn: number): Promise<Row> {
  // The cpu backend is ~50x slower (its stock filter gradient takes ~30 s here): one cold run.
  const slow = backend === 'cpu';
  const reps = slow ? 1 : repsIn;
  const time = (n: number, f: () => tf.Tensor): Timing => timeMedian(n, !slow, f);
  await initBackend(backend);
  if (backend === 'wasm') registerWasmKernels();
  const rng = new Rng(1);
  const x = rng.normalTensor<tf.Tensor4D>(c.x);
  const w = rng.normalTensor<tf.Tensor4D>(c.w);
  const pad = explicit(c.pad);
  const y = tf.conv2d(x, w, c.stride, pad);
  const dy = rng.normalTensor<tf.Tensor4D>(y.shape);
  const common = { strides: c.stride, pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const inputAttrs = { ...common, inputShape: c.x } as unknown as tf.NamedAttrMap;
  const filterAttrs = { ...common, filterShape: c.w } as unknown as tf.NamedAttrMap;
  const row: Row = {};
  row.forward = time(reps, () => tf.conv2d(x, w, c.stride, pad));
  // The stock input-gradient kernel, called directly (on wasm it is the one registerWasmKernels replaced).
  const stock =
    backend === 'wasm'
      ? stockWasmKernel('Conv2DBackpropInput')
      : tf.getKernel('Conv2DBackpropInput', backend)?.kernelFunc;
  if (stock !== undefined) {
    row.inputGradStock = time(reps, () => {
      const out = stock({ inputs: { dy, filter: w }, attrs: inputAttrs, backend: tf.backend() });
      const t = out as tf.TensorInfo;
      return tf.engine().makeTensorFromDataId(t.dataId, t.shape, t.dtype);
    });
  }
  row.inputGradFlow = time(reps, () => conv2dInputGradient(dy, w, c.x, c.stride, pad));
  // Through tf.grad's path: the registered kernels (ours on wasm, stock on cpu).
  row.inputGradKernel = time(
    reps,
    () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, inputAttrs) as tf.Tensor,
  );
  row.filterGradFlow = time(reps, () => conv2dFilterGradient(x, dy, c.w, c.stride, pad));
  if (backend === 'cpu') {
    row.filterGradKernel = time(
      reps,
      () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, filterAttrs) as tf.Tensor,
    );
  }
  tf.dispose([x, w, y, dy]);
  return row;
}

const TORCH_SCRIPT = `
import json, sys, time, torch
cases, reps = json.loads(sys.argv[1]), int(sys.argv[2])
def med(f):
    f()
    walls, cpus = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        f()
        walls.append((time.perf_counter() - t0) * 1000); cpus.append((time.process_time() - c0) * 1000)
    walls.sort(); cpus.sort()
    return {'wall': walls[len(walls) // 2], 'cpu': cpus[len(cpus) // 2]}
out = {}
torch.manual_seed(0)
for threads in (1, 2):
    torch.set_num_threads(threads)
    for c in cases:
        n, h, w, ci = c['x']; kh, kw, _, co = c['w']; s, p = c['stride'], c['pad']
        x = torch.randn(n, ci, h, w); wt = torch.randn(co, ci, kh, kw)
        with torch.no_grad():
            y = torch.nn.functional.conv2d(x, wt, stride=s, padding=p)
            dy = torch.randn_like(y)
            # aten's own backward kernel, one gradient at a time (what autograd calls).
            bw = lambda mask: torch.ops.aten.convolution_backward(dy, x, wt, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, mask)
            out[f"{c['name']}|{threads}"] = {
                'forward': med(lambda: torch.nn.functional.conv2d(x, wt, stride=s, padding=p)),
                'inputGrad': med(lambda: bw([True, False, False])),
                'filterGrad': med(lambda: bw([False, True, False])),
            }
print(json.dumps({'version': torch.__version__, 'results': out}))
`;

interface TorchOut {
  version: string;
  results: Record<string, Row>;
}

function benchTorch(reps: number): TorchOut | string {
  const r = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, JSON.stringify(CASES), String(reps)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return `python failed: ${r.stderr || r.error?.message}`;
  return JSON.parse(r.stdout) as TorchOut;
}

function fmt(v: number | undefined): string {
  return v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function ratio(p: number | undefined, q: number | undefined): string {
  return p !== undefined && q !== undefined && q > 0 ? (p / q).toFixed(2) : '-';
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const repsAt = args.indexOf('--reps');
  const reps = repsAt >= 0 ? Number(args[repsAt + 1]) : 7;
  const withCpu = !args.includes('--no-cpu');
  const withTorch = !args.includes('--no-torch');
  console.log(
    `load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; reps ${reps} (cpu backend: 1, no warm-up)`,
  );
  const torch = withTorch ? benchTorch(reps) : 'skipped';
  if (typeof torch === 'string') console.log(`torch: ${torch}`);
  else console.log(`torch ${torch.version}`);
  for (const c of CASES) {
    const wasm = await benchTfjs('wasm', c, reps);
    const cpu = withCpu ? await benchTfjs('cpu', c, 1) : undefined;
    const t1 = typeof torch === 'string' ? undefined : torch.results[`${c.name}|1`];
    const t2 = typeof torch === 'string' ? undefined : torch.results[`${c.name}|2`];
    console.log(`\n${c.name}  (median ms; "cpu" = process CPU time, "wall" = wall clock)`);
    console.log(
      `${''.padEnd(19)}${['wasm cpu', 'wasm wall', 'tfcpu cpu', 'torch1 cpu', 'torch1 wall', 'torch2 wall']
        .map((h) => h.padStart(12))
        .join('')}  wasm/torch1(cpu)  wasm/torch2(wall)`,
    );
    const line = (label: string, w?: Timing, cv?: Timing, a?: Timing, b?: Timing): void => {
      const cells = [w?.cpu, w?.wall, cv?.cpu, a?.cpu, a?.wall, b?.wall]
        .map((v) => fmt(v).padStart(12))
        .join('');
      console.log(
        `${label.padEnd(19)}${cells}  ${ratio(w?.cpu, a?.cpu).padStart(16)}  ${ratio(w?.wall, b?.wall).padStart(17)}`,
      );
    };
    line('forward', wasm.forward, cpu?.forward, t1?.forward, t2?.forward);
    line('input grad stock', wasm.inputGradStock, cpu?.inputGradStock, t1?.inputGrad, t2?.inputGrad);
    line('input grad flow', wasm.inputGradFlow, cpu?.inputGradFlow, t1?.inputGrad, t2?.inputGrad);
    line('input grad kernel', wasm.inputGradKernel, cpu?.inputGradKernel, t1?.inputGrad, t2?.inputGrad);
    line('filter grad flow', wasm.filterGradFlow, cpu?.filterGradFlow, t1?.filterGrad, t2?.filterGrad);
    line('filter grad stock', undefined, cpu?.filterGradKernel, t1?.filterGrad, t2?.filterGrad);
  }
  console.log(
    `\nload average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
