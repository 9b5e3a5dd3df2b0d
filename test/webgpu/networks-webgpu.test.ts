/**
 * The real networks on the webgpu backend, against wasm and the float64 PyTorch references of the
 * network fixtures (test/networks): both UNets, both autoencoders and LPIPS, forward and input
 * gradient. Without a GPU webgpu runs on a software adapter (llvmpipe through Dawn's OpenGL ES
 * route, which scripts/setup.sh installs), so the shapes are the fixtures' small ones. Tolerance: relative error (max abs diff / max abs reference) below
 * 1e-4 against PyTorch, as the wasm tests, and below 1e-4 against wasm. All webgpu tests live in
 * this one file: one process, one device, each shader compiled once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { relErr } from '../helpers/backends.js';
import { webgpuSkip, onBackend } from './webgpu-helpers.js';
import { releaseBackend } from '../../src/runtime/backend.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../../src/networks/unet-openai.js';
import { DhariwalUNet, type DhariwalUNetConfig } from '../../src/networks/unet-dhariwal.js';
import { AutoencoderKL, type AutoencoderKLConfig } from '../../src/networks/autoencoder-kl.js';
import { VQModel, type VQModelConfig } from '../../src/networks/vq-model.js';
import { loadModel } from '../../src/models/build.js';
import { ioArray, ioTensor, loadUNetFixture } from '../networks/unet-fixture.js';
import {
  ioData,
  ioTensor as aeTensor,
  loadAutoencoderFixture,
  type AutoencoderFixture,
} from '../networks/autoencoder-fixture.js';
import { decodeArray, decodeTensor4d, loadFixture, type EncodedArray } from '../physics/fixture-io.js';
import { importReferenceLpips, lpipsSkip } from '../helpers/lpips.js';

const TOL = 1e-4;
const TOL_VS_WASM = 3e-5;

after(releaseBackend);

type Results = Record<string, Float32Array>;

/**
 * Run `compute` on wasm, then on webgpu; every result on webgpu must match both wasm and the
 * PyTorch reference `refs[name]` (where given).
 */
async function compareBackends(
  label: string,
  compute: () => Promise<Results>,
  refs: Record<string, ArrayLike<number>>,
  tol = TOL,
): Promise<void> {
  const wasm = await onBackend('wasm', compute);
  const gpu = await onBackend('webgpu', compute);
  const report: string[] = [];
  for (const [name, got] of Object.entries(gpu)) {
    const vsWasm = relErr(got, wasm[name] as Float32Array);
    const ref = refs[name];
    const vsRef = ref === undefined ? undefined : relErr(got, ref);
    report.push(
      `${name} vs wasm ${vsWasm.toExponential(2)}${vsRef === undefined ? '' : `, vs PyTorch ${vsRef.toExponential(2)}`}`,
    );
    assert.ok(got.every(Number.isFinite), `${label} ${name}: not finite on webgpu`);
    assert.ok(vsWasm < TOL_VS_WASM, `${label} ${name}: webgpu vs wasm relative error ${vsWasm}`);
    if (vsRef !== undefined)
      assert.ok(vsRef < tol, `${label} ${name}: webgpu vs PyTorch relative error ${vsRef}`);
  }
  console.log(`[webgpu] ${label}: ${report.join('; ')}`);
}

async function read(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data());
}

test(
  'OpenAIUNet (class-conditional, attention): output and input gradient',
  { skip: webgpuSkip },
  async () => {
    const f = await loadUNetFixture('unet-openai-a');
    await compareBackends(
      'OpenAIUNet a',
      async () => {
        const net = OpenAIUNet.load(f.weights, f.config as unknown as OpenAIUNetConfig);
        const [x, t, y, r] = ['x', 't', 'y', 'r'].map((k) => ioTensor(f, k));
        const out = net.forward(x as tf.Tensor4D, t as tf.Tensor1D, y as tf.Tensor1D);
        const grad = tf.grad((v: tf.Tensor) =>
          tf.sum(tf.mul(net.forward(v as tf.Tensor4D, t as tf.Tensor1D, y as tf.Tensor1D), r as tf.Tensor)),
        )(x as tf.Tensor);
        const results = { out: await read(out), grad_x: await read(grad) };
        tf.dispose([x, t, y, r, out, grad] as tf.Tensor[]);
        net.dispose();
        return results;
      },
      { out: ioArray(f, 'out'), grad_x: ioArray(f, 'grad_x') },
    );
  },
);

test('DhariwalUNet (EDM): output and input gradient', { skip: webgpuSkip }, async () => {
  const f = await loadUNetFixture('unet-dhariwal');
  await compareBackends(
    'DhariwalUNet',
    async () => {
      const net = DhariwalUNet.load(f.weights, f.config as unknown as DhariwalUNetConfig);
      const io = Object.fromEntries(['x', 't', 'y', 'aug', 'r'].map((k) => [k, ioTensor(f, k)]));
      const { t, y, aug, r } = io as { t: tf.Tensor1D; y: tf.Tensor2D; aug: tf.Tensor2D; r: tf.Tensor4D };
      const forward = (v: tf.Tensor): tf.Tensor4D => net.forward(v as tf.Tensor4D, t, y, aug);
      const out = forward(io.x as tf.Tensor);
      const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(forward(v), r)))(io.x as tf.Tensor);
      const results = { out: await read(out), grad_x: await read(grad) };
      tf.dispose([...Object.values(io), out, grad]);
      net.dispose();
      return results;
    },
    { out: ioArray(f, 'out'), grad_x: ioArray(f, 'grad_x') },
  );
});

function aeRefs(f: AutoencoderFixture<unknown>, names: string[]): Record<string, ArrayLike<number>> {
  return Object.fromEntries(names.map((n) => [n, ioData(f, n)]));
}

test('AutoencoderKL: encoder moments, decoder, and both input gradients', { skip: webgpuSkip }, async () => {
  const f = await loadAutoencoderFixture<AutoencoderKLConfig>('autoencoder-kl.safetensors');
  await compareBackends(
    'AutoencoderKL',
    async () => {
      const ae = AutoencoderKL.fromCheckpoint(f.weights, f.config);
      const x = aeTensor(f, 'x') as tf.Tensor4D;
      const eps = aeTensor(f, 'eps') as tf.Tensor4D;
      const z = aeTensor(f, 'z') as tf.Tensor4D;
      const r = aeTensor(f, 'r_dec');
      const { mean, logvar } = ae.encode(x);
      const dec = ae.decode(z);
      const gz = tf.grad((zi) => tf.sum(tf.mul(ae.decode(zi as tf.Tensor4D), r)))(z);
      const gx = tf.grad((xi) => {
        const m = ae.encode(xi as tf.Tensor4D);
        return tf.sum(tf.mul(ae.decode(ae.sampleLatent(m.mean, m.logvar, eps)), r));
      })(x);
      const results = {
        mean: await read(mean),
        logvar: await read(logvar),
        dec: await read(dec),
        grad_z: await read(gz),
        grad_x: await read(gx),
      };
      tf.dispose([x, eps, z, r, mean, logvar, dec, gz, gx]);
      ae.dispose();
      return results;
    },
    aeRefs(f, ['mean', 'logvar', 'dec', 'grad_z', 'grad_x']),
  );
});

test(
  'VQModel: encoder, quantiser, decoder and the straight-through input gradient',
  { skip: webgpuSkip },
  async () => {
    const f = await loadAutoencoderFixture<VQModelConfig>('autoencoder-vq.safetensors');
    await compareBackends(
      'VQModel',
      async () => {
        const vq = VQModel.fromCheckpoint(f.weights, f.config);
        const x = aeTensor(f, 'x') as tf.Tensor4D;
        const r = aeTensor(f, 'r_dec');
        const { h, quant, indices } = vq.encode(x);
        const dec = vq.decode(quant);
        const gx = tf.grad((xi) => tf.sum(tf.mul(vq.decode(vq.encode(xi as tf.Tensor4D).quant), r)))(x);
        const results = {
          h: await read(h),
          indices: await read(indices),
          quant: await read(quant),
          dec: await read(dec),
          grad_x: await read(gx),
        };
        tf.dispose([x, r, h, quant, indices, dec, gx]);
        vq.dispose();
        return results;
      },
      aeRefs(f, ['h', 'indices', 'quant', 'dec', 'grad_x']),
    );
  },
);

interface LpipsFixture {
  gray: { a: EncodedArray; b: EncodedArray; distance: number[]; grad_a: EncodedArray };
}

test('LPIPS squeeze: distances and input gradient', { skip: webgpuSkip || lpipsSkip }, async () => {
  const fixture = loadFixture<LpipsFixture>('metric/lpips.json');
  const tmp = mkdtempSync(path.join(tmpdir(), 'flow-lpips-webgpu-'));
  try {
    const folder = await onBackend('wasm', () => importReferenceLpips(path.join(tmp, 'lpips')));
    // As test/networks/lpips.test.ts: 1e-4 absolute on distances, 1e-3 relative on the gradient.
    await compareBackends(
      'LPIPS',
      async () => {
        const model = await loadModel(folder);
        const net = model.perceptual;
        assert.ok(net);
        const a = decodeTensor4d(fixture.gray.a);
        const b = decodeTensor4d(fixture.gray.b);
        const d = net.distance(a, b);
        const grad = tf.grad((x: tf.Tensor) => tf.sum(net.distance(x as tf.Tensor4D, b)))(a);
        const results = { distance: await read(d), grad_a: await read(grad) };
        tf.dispose([a, b, d, grad]);
        model.dispose();
        return results;
      },
      { distance: fixture.gray.distance, grad_a: decodeArray(fixture.gray.grad_a) },
      1e-3,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test(
  'webgpu in Node: what can be read synchronously, and a clear error for the rest',
  { skip: webgpuSkip },
  async () => {
    await onBackend('webgpu', async () => {
      // Small tensors from JS keep their values after a GPU op used them; small fills are made on the CPU.
      const labels = tf.tensor1d([0, 3], 'int32');
      const big = tf.ones([1, 80, 80, 16]); // > 65,536 elements: computed on the GPU
      const [used, guided] = tf.tidy(() => [
        tf.add(tf.sum(big), tf.cast(tf.sum(labels), 'float32')),
        tf.concat([labels, tf.fill([2], 10, 'int32')]),
      ]);
      assert.deepEqual(Array.from(labels.dataSync()), [0, 3]);
      assert.deepEqual(Array.from(guided.dataSync()), [0, 3, 10, 10]);
      // A GPU result: a synchronous read fails with the reason; after one asynchronous read it works.
      const doubled = tf.mul(big, 2);
      assert.throws(
        () => doubled.dataSync(),
        /webgpu in Node cannot read a GPU tensor synchronously .*wasm backend/,
      );
      assert.equal((await doubled.data())[0], 2);
      assert.equal(doubled.dataSync()[6399], 2);
      assert.equal((await used.data())[0], 80 * 80 * 16 + 3);
      tf.dispose([labels, big, used, guided, doubled]);
    });
  },
);
