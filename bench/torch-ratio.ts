/**
 * flow against PyTorch on the main job's own networks: the embedded models/fashion-ldm UNet and
 * decoder at batch 4 (latent 8x8x4), built in PyTorch from the same safetensors weights
 * (bench/torch_ratio.py, with the reference modules of scripts/fixtures/torch_ref), outputs
 * compared, then four calls timed in interleaved rounds (a flow round, a PyTorch round, ...):
 *   (a) UNet forward (the x0 prediction at t = 400, unconditional label),
 *   (b) UNet + input gradient of sum(x0 * r),
 *   (c) decoder forward,
 *   (d) UNet -> decoder + input gradient of the squared residual (a VIPaint / DPS step).
 * PyTorch runs on one thread (torch.set_num_threads(1), OMP/OpenBLAS pinned to 1 as well); tfjs
 * wasm runs on one thread too, so the fair ratio is process CPU time against process CPU time
 * (wall times are printed as well; the machine may be shared, the load average is printed).
 * Kernel launches per call are counted with tf.profile.
 *
 *   node --import tsx bench/torch-ratio.ts [--rounds 5] [--reps 3] [--profile a,b,c,d] [--no-torch]
 */
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/runtime/backend.js';
import { loadModel } from '../src/models/build.js';
import { median, type Timing } from './timing.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const rounds = Number(option('--rounds', '5'));
const reps = Number(option('--reps', '3'));
const profiled = option('--profile', '').split(',').filter(Boolean);
const withTorch = !args.includes('--no-torch');
const T = 400;
const BATCH = 4;
type CallName = 'a' | 'b' | 'c' | 'd';
const CALLS: readonly CallName[] = ['a', 'b', 'c', 'd'];
const LABELS: Record<CallName, string> = {
  a: '(a) UNet forward',
  b: '(b) UNet + input gradient',
  c: '(c) decoder forward',
  d: '(d) UNet -> decoder + gradient',
};

await initBackend('wasm');
const modelDir = path.join(repo, 'models/fashion-ldm');
const model = await loadModel(modelDir);
const prior = model.prior();
const denoiser = model.denoiser;
if (!denoiser || !model.autoencoder) throw new Error('models/fashion-ldm: expected a latent diffusion model');
const [h, w, c] = prior.latentShape;
const imageShape = prior.imageShape;

/** Deterministic inputs (a fixed seed, so both sides see the same numbers). */
const z = tf.randomNormal([BATCH, h, w, c], 0, 1, 'float32', 1) as tf.Tensor4D;
const r = tf.randomNormal([BATCH, h, w, c], 0, 1, 'float32', 2) as tf.Tensor4D;
const target = tf.randomUniform([BATCH, ...imageShape], -1, 1, 'float32', 3) as tf.Tensor4D;

const x0 = (x: tf.Tensor4D): tf.Tensor4D => denoiser.predictX0(x, T);
const calls: Record<CallName, () => tf.Tensor> = {
  a: () => x0(z),
  b: () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(x0(x as tf.Tensor4D), r)))(z),
  c: () => prior.decode(z),
  d: () =>
    tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.sub(prior.decode(x0(x as tf.Tensor4D)), target))))(z),
};

function timeOnce(f: () => tf.Tensor): Timing {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = f();
  out.dataSync();
  const wall = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  out.dispose();
  return { wall, cpu: (cu.user + cu.system) / 1000 };
}

function flowRound(k: number): Record<CallName, Timing> {
  const out = {} as Record<CallName, Timing>;
  for (const name of CALLS) {
    const ts = Array.from({ length: k }, () => timeOnce(calls[name]));
    out[name] = { wall: median(ts.map((t) => t.wall)), cpu: median(ts.map((t) => t.cpu)) };
  }
  return out;
}

/** The PyTorch child: one JSON line per request. */
class TorchSide {
  private readonly lines: AsyncIterator<string>;
  private readonly child;

  constructor(config: unknown) {
    const one = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    this.child = spawn(
      '/usr/bin/python3',
      [path.join(repo, 'bench/torch_ratio.py'), JSON.stringify(config)],
      {
        env: one,
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async ask<R>(request: unknown): Promise<R> {
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new Error('bench/torch_ratio.py ended early (see its error above)');
    return JSON.parse(next.value) as R;
  }

  close(): void {
    this.child.stdin.end();
  }
}

function maxAbsDiff(a: Float32Array | number[], b: number[]): { abs: number; scale: number } {
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    abs = Math.max(abs, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return { abs, scale };
}

/** Kernel launches of one call (tf.profile also lists customGrad / op scopes: not kernels). */
async function kernelCount(f: () => tf.Tensor, top: boolean): Promise<number> {
  const info = await tf.profile(() => {
    const out = f();
    out.dataSync();
    return out;
  });
  const kernels = info.kernels.filter((k) => tf.getKernel(k.name, tf.getBackend()) !== undefined);
  if (top) {
    const byName = new Map<string, { ms: number; calls: number }>();
    let total = 0;
    for (const k of kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += ms;
      e.calls += 1;
      total += ms;
      byName.set(k.name, e);
    }
    console.log(`    ${kernels.length} launches, ${total.toFixed(1)} ms inside kernels`);
    for (const [name, e] of [...byName.entries()].sort((p, q) => q[1].ms - p[1].ms).slice(0, 12)) {
      console.log(
        `      ${name.padEnd(24)} ${e.ms.toFixed(1).padStart(7)} ms ${String(e.calls).padStart(5)} calls`,
      );
    }
  }
  return kernels.length;
}

const load = (): string =>
  os
    .loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');
console.log(
  `flow wasm (tfjs ${tf.version.tfjs}) vs PyTorch, models/fashion-ldm, batch ${BATCH}; load average ${load()}`,
);

let torch: TorchSide | undefined;
if (withTorch) {
  const m = model.manifest;
  const ae = m.autoencoder;
  if (!ae) throw new Error('models/fashion-ldm: no autoencoder in the manifest');
  const aeConfig = ae.architecture.config as Record<string, unknown>;
  const level = denoiser.schedule.level(T);
  torch = new TorchSide({
    weights: path.join(modelDir, m.weights ?? 'weights.safetensors'),
    unet: m.architecture.config,
    unetPrefix: m.weightsPrefix ?? '',
    ddconfig: aeConfig['ddconfig'],
    embedDim: aeConfig['embed_dim'],
    aePrefix: ae.weightsPrefix ?? '',
    scaleFactor: ae.scaleFactor,
    alpha: level.alpha,
    sigma: level.sigma,
    t: T,
    label: model.numClasses ?? 0,
    threads: 1,
  });
  const reference = await torch.ask<Record<CallName, number[]>>({
    shape: z.shape,
    imageShape,
    z: Array.from(z.dataSync()),
    r: Array.from(r.dataSync()),
    target: Array.from(target.dataSync()),
  });
  console.log('outputs, flow against PyTorch (max |difference|, max |PyTorch value|):');
  for (const name of CALLS) {
    const out = calls[name]();
    const { abs, scale } = maxAbsDiff(out.dataSync() as Float32Array, reference[name]);
    out.dispose();
    console.log(`  ${LABELS[name].padEnd(32)} ${abs.toExponential(2)}  (${scale.toFixed(3)})`);
  }
}

// Warm-up round on both sides, then interleaved timed rounds.
flowRound(1);
if (torch) await torch.ask({ reps: 1 });
const flowRounds: Record<CallName, Timing>[] = [];
const torchRounds: Record<CallName, Timing>[] = [];
const loads: number[] = [];
for (let i = 0; i < rounds; i++) {
  flowRounds.push(flowRound(reps));
  if (torch) torchRounds.push(await torch.ask<Record<CallName, Timing>>({ reps }));
  loads.push(os.loadavg()[0] as number);
}
torch?.close();

// Counted after the timed rounds, so that the JavaScript kernels are optimised by then.
console.log('kernel launches per call (flow):');
const launches = {} as Record<CallName, number>;
for (const name of CALLS) {
  if (profiled.includes(name)) console.log(`  ${LABELS[name]}:`);
  launches[name] = await kernelCount(calls[name], profiled.includes(name));
}
console.log(`  ${CALLS.map((n) => `${n} ${launches[n]}`).join(', ')}`);

const med = (rs: Record<CallName, Timing>[], name: CallName, key: keyof Timing): number =>
  median(rs.map((x) => x[name][key]));
console.log(
  `\n${rounds} interleaved rounds of ${reps} calls each (median of the round medians); ` +
    `load average (1 min) during the rounds ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`,
);
console.log(
  '| call | flow CPU ms | flow wall ms | PyTorch 1t CPU ms | PyTorch 1t wall ms | ratio (CPU) | launches |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const name of CALLS) {
  const fc = med(flowRounds, name, 'cpu');
  const fw = med(flowRounds, name, 'wall');
  const tc = torch ? med(torchRounds, name, 'cpu') : NaN;
  const tw = torch ? med(torchRounds, name, 'wall') : NaN;
  console.log(
    `| ${LABELS[name]} | ${fc.toFixed(1)} | ${fw.toFixed(1)} | ${tc.toFixed(1)} | ${tw.toFixed(1)} | ` +
      `${(fc / tc).toFixed(2)}x | ${launches[name]} |`,
  );
}
tf.dispose([z, r, target]);
model.dispose();
