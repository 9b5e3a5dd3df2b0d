/**
 * webgpu against wasm on one network call of the main job (issue 14): the embedded latent prior
 * (models/fashion-ldm) at batch 4, latent 8x8x4, t = 500, unconditional.
 *
 *   FLOW_WEBGPU_SOFTWARE=1 node --import tsx bench/webgpu.ts [--reps N]
 *
 * Calls: `UNet forward` = prior.denoiser.predictX0(z, t); `UNet -> decoder + gradient` = tf.grad of
 * sum(decode(predictX0(z, t)) * r) with respect to z (a VIPaint/DPS step). Each backend has its own
 * copy of the model (no tensor crosses backends); the two are interleaved call by call, each result
 * read back with `await data()`, and the medians of N (default 5) are reported after one warm-up
 * call per backend and call kind (webgpu compiles its shaders there). Without a GPU, webgpu runs on
 * a software adapter (needs FLOW_WEBGPU_SOFTWARE=1): this measures that, not a GPU.
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend, releaseBackend, type BackendName } from '../src/runtime/backend.js';
import { loadModel, type LoadedModel } from '../src/models/build.js';
import { Rng } from '../src/util/random.js';
import { median, type Timing } from './timing.js';

const MODEL = fileURLToPath(new URL('../models/fashion-ldm', import.meta.url));
const BATCH = 4;
const T = 500;

const repsArg = process.argv.indexOf('--reps');
const reps = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 5;
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer`);

type Call = (m: LoadedModel, z: tf.Tensor4D, r: tf.Tensor4D) => tf.Tensor;
const CALLS: Record<string, Call> = {
  'UNet forward': (m, z) => m.prior().denoiser.predictX0(z, T),
  'UNet -> decoder + gradient': (m, z, r) => {
    const prior = m.prior();
    return tf.grad((v: tf.Tensor) =>
      tf.sum(tf.mul(prior.decode(prior.denoiser.predictX0(v as tf.Tensor4D, T)), r)),
    )(z);
  },
};

interface Setup {
  model: LoadedModel;
  z: tf.Tensor4D;
  r: tf.Tensor4D;
  provider: string;
}

async function setUp(backend: BackendName): Promise<Setup> {
  const info = await initBackend(backend);
  const model = await loadModel(MODEL);
  const rng = new Rng(0);
  const prior = model.prior();
  const z = rng.normalTensor([BATCH, ...prior.latentShape]) as tf.Tensor4D;
  const r = rng.normalTensor([BATCH, ...prior.imageShape]) as tf.Tensor4D;
  return { model, z, r, provider: info.provider };
}

/** Wall and process-CPU milliseconds (all threads: llvmpipe renders on several) of one call. */
async function timeCall(backend: BackendName, s: Setup, call: Call): Promise<Timing> {
  await initBackend(backend);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = call(s.model, s.z, s.r);
  await out.data();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  out.dispose();
  return { wall, cpu: (c.user + c.system) / 1000 };
}

const backends: BackendName[] = ['wasm', 'webgpu'];
const setups = new Map<BackendName, Setup>();
for (const b of backends) setups.set(b, await setUp(b));
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; batch ${BATCH}, ${reps} reps`,
);
for (const b of backends) console.log(`  ${b}: ${setups.get(b)?.provider}`);
const fmt = (t: Timing): string => `${t.wall.toFixed(0)} ms (CPU ${t.cpu.toFixed(0)} ms)`;
for (const [name, call] of Object.entries(CALLS)) {
  const times = new Map<BackendName, Timing[]>(backends.map((b) => [b, []]));
  const warm = new Map<BackendName, Timing>();
  for (const b of backends) warm.set(b, await timeCall(b, setups.get(b) as Setup, call));
  for (let i = 0; i < reps; i++) {
    for (const b of backends) times.get(b)?.push(await timeCall(b, setups.get(b) as Setup, call));
  }
  const [wasm, gpu] = backends.map((b) => {
    const ts = times.get(b) as Timing[];
    return { wall: median(ts.map((t) => t.wall)), cpu: median(ts.map((t) => t.cpu)) };
  }) as [Timing, Timing];
  console.log(`${name}: wasm ${fmt(wasm)}, webgpu ${fmt(gpu)}`);
  console.log(
    `  webgpu/wasm: wall ${(gpu.wall / wasm.wall).toFixed(2)}x, CPU ${(gpu.cpu / wasm.cpu).toFixed(2)}x;` +
      ` first call: wasm ${fmt(warm.get('wasm') as Timing)}, webgpu ${fmt(warm.get('webgpu') as Timing)}`,
  );
}
for (const b of backends) {
  await initBackend(b);
  const s = setups.get(b) as Setup;
  tf.dispose([s.z, s.r]);
  s.model.dispose();
}
releaseBackend();
