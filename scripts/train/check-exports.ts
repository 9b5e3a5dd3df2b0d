/**
 * Check that the training exports in train-out/ load unchanged into flow's tfjs networks and behave:
 *   node --import tsx scripts/train/check-exports.ts [train-out]
 * classifier: accuracy on the 16 shipped test images (assets/fashion); autoencoder: their
 * reconstruction PSNR; ldm / edm: one guided-size forward call on random input (shape, finite).
 * Runs on the wasm backend. Models without model.safetensors + config.json are skipped.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/runtime/backend.js';
import { readSafetensorsFile } from '../../src/checkpoint/safetensors.js';
import { Classifier, type ClassifierConfig } from '../../src/networks/classifier.js';
import { AutoencoderKL } from '../../src/networks/autoencoder-kl.js';
import { ddConfigFromOfficial } from '../../src/networks/autoencoder-blocks.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../../src/networks/unet-openai.js';
import { DhariwalUNet, type DhariwalUNetConfig } from '../../src/networks/unet-dhariwal.js';
import { readImage } from '../../src/io/image.js';

const repo = resolve(import.meta.dirname, '../..');
const root = resolve(process.argv[2] ?? join(repo, 'train-out'));

async function model(
  name: string,
): Promise<
  { tensors: Awaited<ReturnType<typeof readSafetensorsFile>>; config: Record<string, unknown> } | undefined
> {
  const dir = join(root, name);
  if (!existsSync(join(dir, 'model.safetensors')) || !existsSync(join(dir, 'config.json'))) {
    console.log(`${name}: no export in ${dir}, skipped`);
    return undefined;
  }
  return {
    tensors: await readSafetensorsFile(join(dir, 'model.safetensors')),
    config: JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
  };
}

async function shipped(): Promise<{ x: tf.Tensor4D; labels: number[] }> {
  const doc = JSON.parse(await readFile(join(repo, 'assets/fashion/labels.json'), 'utf8')) as {
    labels: Record<string, number>;
  };
  const keys = Object.keys(doc.labels).sort();
  const images = await Promise.all(
    keys.map((k) => readImage(join(repo, 'assets/fashion', `${k}.png`), { channels: 1, fit: 'cover' })),
  );
  const x = tf.concat(images) as tf.Tensor4D;
  tf.dispose(images);
  return { x, labels: keys.map((k) => doc.labels[k] as number) };
}

await initBackend('wasm');
const { x, labels } = await shipped();

const clf = await model('classifier');
if (clf) {
  const net = Classifier.load(clf.tensors, clf.config as unknown as ClassifierConfig);
  const pred = await net.predict(x);
  const right = pred.filter((p, i) => p === labels[i]).length;
  console.log(`classifier: loads; ${right}/16 shipped test images classified correctly`);
  net.dispose();
}

const ae = await model('autoencoder');
if (ae) {
  const dd = ddConfigFromOfficial(ae.config.ddconfig as Record<string, unknown>);
  const net = AutoencoderKL.fromCheckpoint(ae.tensors, {
    ...dd,
    embedDim: ae.config.embed_dim as number,
    scaleFactor: ae.config.scale_factor as number,
  });
  const { mean, logvar } = net.encode(x);
  const rec = tf.clipByValue(net.decode(mean), -1, 1);
  const mse = tf.mean(tf.square(tf.sub(rec, x)), [1, 2, 3]);
  const psnr = Array.from(await mse.data()).map((m) => 10 * Math.log10(4 / m));
  console.log(
    `autoencoder: loads; latent ${JSON.stringify(mean.shape)}; shipped-image PSNR mean ${(psnr.reduce((a, b) => a + b) / psnr.length).toFixed(2)} dB`,
  );
  tf.dispose([mean, logvar, rec, mse]);
  net.dispose();
}

const ldm = await model('ldm');
if (ldm) {
  const net = OpenAIUNet.load(ldm.tensors, ldm.config.unet_config as OpenAIUNetConfig);
  const z = tf.randomNormal([2, 8, 8, 4]) as tf.Tensor4D;
  const out = net.forward(z, [500, 20], [3, 10]);
  const finite = (await tf.all(tf.isFinite(out)).data())[0] === 1;
  console.log(`ldm: loads; eps output ${JSON.stringify(out.shape)} finite=${finite}`);
  tf.dispose([z, out]);
  net.dispose();
}

const edm = await model('edm');
if (edm) {
  const net = DhariwalUNet.load(edm.tensors, edm.config.network as DhariwalUNetConfig, {
    prefix: String(edm.config.state_dict_prefix ?? ''),
  });
  const y = tf.randomNormal([2, 32, 32, 1]) as tf.Tensor4D;
  const out = net.forward(y, tf.tensor1d([0.1, -0.5]), tf.oneHot([3, 7], 10).toFloat() as tf.Tensor2D);
  const finite = (await tf.all(tf.isFinite(out)).data())[0] === 1;
  console.log(`edm: loads; raw network output ${JSON.stringify(out.shape)} finite=${finite}`);
  tf.dispose([y, out]);
  net.dispose();
}
x.dispose();
