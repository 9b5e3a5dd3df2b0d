/**
 * KID of the embedded priors' unconditional samples against the Fashion-MNIST test set, in the
 * shipped classifier's penultimate feature space (128-d ReLU features), next to the floor: the
 * KID of as many held-out real test images, disjoint from the reference set. Runs in flow itself
 * (tfjs wasm) on the shipped model folders.
 *
 *   node --import tsx scripts/models/evaluate-kid.ts [ldm] [edm] [--n 1000] [--seed 0] [--json out.json]
 *
 * Reference: test[0:5000]. Floor: test[5000:5000+n]. Samples: n unconditional samples (the null
 * class, no guidance): LDM DDIM 50 steps (eta 0) decoded by its autoencoder, EDM Heun 18 steps.
 * KID: mean and std over 50 random subset pairs of size min(n, 1000), plus the all-pairs value.
 * Features are divided by one constant, the root mean square of the reference features, so that
 * x.y / d is of order 1 as the kernel (x.y / d + 1)^3 assumes (raw ReLU features here are large
 * and make KID values of order 100 whose noise swamps the differences); the scaling is the same
 * for every set, so the comparison with the floor is unchanged in kind.
 */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/runtime/backend.js';
import { loadModel, type LoadedModel } from '../../src/models/build.js';
import { fashionTensor, loadFashionSplit, rawImage } from '../../src/io/fashion-mnist.js';
import { sampleDdimAsync, sampleEdmAsync } from '../../src/sampling/sample.js';
import { kid, type KidEstimate } from '../../src/metric/kid.js';
import type { Classifier } from '../../src/networks/classifier.js';
import { Rng } from '../../src/util/random.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const n = Number(option('n', '1000'));
const seed = Number(option('seed', '0'));
const jsonOut = option('json', '');
const priors = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const which = priors.length > 0 ? priors : ['ldm', 'edm'];
const REFERENCE = [0, 5000] as const;
const BATCH = 50;

await initBackend('wasm');
const classifierModel = await loadModel(path.join(repo, 'models/fashion-classifier'));
const classifier = classifierModel.classifier as Classifier;

/** Penultimate features (float64) and predicted classes of a batch of images in [-1, 1]. */
async function featuresOf(images: tf.Tensor4D): Promise<{ features: Float64Array[]; classes: number[] }> {
  const [f, c] = tf.tidy(() => {
    const feats = classifier.penultimateFeatures(tf.clipByValue(images, -1, 1) as tf.Tensor4D);
    return [feats, tf.argMax(classifier.logits(tf.clipByValue(images, -1, 1) as tf.Tensor4D), 1)];
  });
  const data = await f.data();
  const classes = Array.from(await c.data(), Number);
  const width = f.shape[1];
  tf.dispose([f, c]);
  const features = Array.from({ length: images.shape[0] }, (_, i) =>
    Float64Array.from(data.subarray(i * width, (i + 1) * width)),
  );
  return { features, classes };
}

const test = await loadFashionSplit('test');
async function realFeatures(from: number, to: number): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let s = from; s < to; s += BATCH) {
    const batch = tf.concat(
      Array.from({ length: Math.min(BATCH, to - s) }, (_, i) => fashionTensor(rawImage(test, s + i))),
    ) as tf.Tensor4D;
    out.push(...(await featuresOf(batch)).features);
    batch.dispose();
  }
  return out;
}

async function sampleBatch(model: LoadedModel, size: number, rng: Rng): Promise<tf.Tensor4D> {
  const d = model.denoiser;
  if (!d) throw new Error(`model '${model.name}' has no denoiser`);
  const labels = d.numClasses === undefined ? undefined : d.numClasses; // the null class
  const shape: [number, number, number, number] = [size, ...d.dataShape];
  if (d.space === 'latent') {
    const z = await sampleDdimAsync(d, { rng, shape, steps: 50, labels });
    const x = model.prior().decode(z);
    z.dispose();
    return x;
  }
  return sampleEdmAsync(d, { rng, shape, steps: 18, solver: 'heun', labels });
}

const t0 = performance.now();
const reference = await realFeatures(REFERENCE[0], REFERENCE[1]);
const floorFeatures = await realFeatures(REFERENCE[1], REFERENCE[1] + n);
let sumSquares = 0;
for (const f of reference) for (const v of f) sumSquares += v * v;
const featureScale = Math.sqrt(sumSquares / (reference.length * (reference[0] as Float64Array).length));
const normalise = (set: Float64Array[]) => {
  for (const f of set) for (let i = 0; i < f.length; i++) f[i] = (f[i] as number) / featureScale;
};
normalise(reference);
normalise(floorFeatures);
const subsetSize = Math.min(n, 1000);
const floor = kid(floorFeatures, reference, { subsetSize, rng: new Rng(seed) });
console.log(
  `reference test[0:5000], floor test[5000:${5000 + n}], feature RMS ${featureScale.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
);
const show = (e: KidEstimate) =>
  `KID ${(e.kid * 1e3).toFixed(2)}e-3 ± ${(e.std * 1e3).toFixed(2)}e-3 (all pairs ${(e.full * 1e3).toFixed(2)}e-3)`;
console.log(`floor (held-out real): ${show(floor)}`);

const results: Record<string, unknown> = {
  features: 'fashion-classifier penultimate (128-d ReLU), divided by their RMS over the reference',
  featureScale,
  reference: 'fashion-mnist:test[0:5000]',
  floor: { images: `fashion-mnist:test[5000:${5000 + n}]`, ...floor },
};
for (const name of which) {
  const model = await loadModel(path.join(repo, `models/fashion-${name}`));
  const rng = new Rng(seed + 1);
  const features: Float64Array[] = [];
  const classes: number[] = [];
  const start = performance.now();
  for (let done = 0; done < n; done += BATCH) {
    const x = await sampleBatch(model, Math.min(BATCH, n - done), rng);
    const f = await featuresOf(x);
    x.dispose();
    features.push(...f.features);
    classes.push(...f.classes);
    process.stderr.write(`\r${name}: ${Math.min(done + BATCH, n)}/${n} samples`);
  }
  process.stderr.write('\n');
  const seconds = (performance.now() - start) / 1000;
  normalise(features);
  const estimate = kid(features, reference, { subsetSize, rng: new Rng(seed) });
  const histogram = Array.from({ length: 10 }, (_, c) => classes.filter((k) => k === c).length / n);
  console.log(`${name}: ${show(estimate)}; ${n} samples in ${seconds.toFixed(0)} s`);
  console.log(`${name}: predicted class shares ${histogram.map((h) => h.toFixed(3)).join(' ')}`);
  results[name] = { samples: n, seconds, ...estimate, classShares: histogram };
  model.dispose();
}
if (jsonOut) await writeFile(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
