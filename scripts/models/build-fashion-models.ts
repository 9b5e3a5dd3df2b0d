/**
 * Turn the training outputs (train-out/<model>/model.safetensors + config.json, written by
 * scripts/train/*.py) into the embedded model folders under models/, through the same
 * `flow convert` path users take with their own checkpoints.
 *
 *   node --import tsx scripts/models/build-fashion-models.ts [classifier] [ldm] [edm]
 *
 * The LDM is assembled in the CompVis layout first (UNet under model.diffusion_model., the
 * autoencoder under first_stage_model.) so its model folder holds one weights file. The model
 * card (README.md) and sample grid survive the rebuild; each training run's loss.csv is copied in
 * as loss-<run>.csv and drawn as loss-<run>.svg for the card.
 */
import path from 'node:path';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { readSafetensorsFile, writeSafetensors } from '../../src/checkpoint/safetensors.js';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { convertCheckpoint } from '../../src/models/convert.js';
import type { ModelManifest } from '../../src/models/manifest.js';
import { initBackend } from '../../src/runtime/backend.js';
import { likelihoodScaleCommand } from '../../src/cli/likelihood-scale-command.js';
import { lossCurveSvg, parseLossCsv } from '../../src/report/loss-plot.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const trainOut = path.join(repo, 'train-out');
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

async function json(file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

const CARD_FILES = ['README.md', 'samples.png'];

/** The images a prior's likelihood scale b is computed from (docs/method.md): training data, never the test split. */
const SCALE_IMAGES = 'fashion-mnist:train[0:100]';

async function convert(name: string, checkpoint: string, manifest: ModelManifest, runs: string[]): Promise<void> {
  const tmp = await mkdtemp(path.join(tmpdir(), 'flow-manifest-'));
  const manifestFile = path.join(tmp, 'model.yaml');
  await writeFile(manifestFile, stringify(manifest));
  const out = path.join(repo, 'models', name);
  // flow convert replaces the folder as a whole: keep the hand-written card and its figures.
  const kept = new Map<string, Buffer>();
  for (const f of CARD_FILES) if (existsSync(path.join(out, f))) kept.set(f, await readFile(path.join(out, f)));
  const r = await convertCheckpoint({ checkpoint, manifest: manifestFile, out, overwrite: true });
  for (const [f, bytes] of kept) await writeFile(path.join(out, f), bytes);
  // convert writes the manifest it is given; a diffusion prior's b is computed from its data.
  if (manifest.kind === 'ldm' || manifest.kind === 'pixel-diffusion')
    process.stdout.write(`models/${name}: ${await likelihoodScaleCommand(SCALE_IMAGES, { count: 100, write: out })}`);
  for (const run of runs) {
    const csv = path.join(trainOut, run, 'loss.csv');
    if (!existsSync(csv)) {
      console.warn(`models/${name}: no ${csv}, so no loss curve for '${run}'`);
      continue;
    }
    const text = await readFile(csv, 'utf8');
    await writeFile(path.join(out, `loss-${run}.csv`), text);
    const svg = lossCurveSvg(parseLossCsv(text, csv), { title: `${name}: ${run} training loss` });
    await writeFile(path.join(out, `loss-${run}.svg`), svg);
  }
  console.log(`models/${name}: ${r.kept} tensors, ${r.parameters} parameters (${r.selection})`);
}

async function classifier(): Promise<void> {
  const cfg = await json(path.join(trainOut, 'classifier/config.json'));
  await convert('fashion-classifier', path.join(trainOut, 'classifier/model.safetensors'), {
    name: 'fashion-classifier',
    kind: 'classifier',
    description: 'Small CNN classifier of Fashion-MNIST at 32x32 (28x28 padded), inputs in [-1, 1]',
    architecture: {
      type: 'classifier-cnn',
      config: { in_channels: cfg.in_channels, resolution: cfg.resolution, num_classes: cfg.num_classes, channels: cfg.channels, hidden: cfg.hidden },
    },
    dataShape: [32, 32, 1],
    classes: { count: 10, names: CLASS_NAMES },
    source: 'trained by scripts/train/classifier.py (see models/fashion-classifier/README.md)',
  }, ['classifier']);
}

async function ldm(): Promise<void> {
  const cfg = await json(path.join(trainOut, 'ldm/config.json'));
  const ae = await json(path.join(trainOut, 'autoencoder/config.json'));
  const merged: TensorMap = new Map();
  for (const [k, v] of await readSafetensorsFile(path.join(trainOut, 'ldm/model.safetensors'))) merged.set(`model.diffusion_model.${k}`, v);
  for (const [k, v] of await readSafetensorsFile(path.join(trainOut, 'autoencoder/model.safetensors'))) merged.set(`first_stage_model.${k}`, v);
  const tmp = await mkdtemp(path.join(tmpdir(), 'flow-ldm-'));
  const ckpt = path.join(tmp, 'fashion-ldm.safetensors');
  await writeFile(ckpt, writeSafetensors(merged));
  const [c, h, w] = cfg.latent_shape as [number, number, number];
  await convert('fashion-ldm', ckpt, {
    name: 'fashion-ldm',
    kind: 'ldm',
    description: 'Class-conditional latent diffusion prior of Fashion-MNIST (32x32x1 -> 8x8x4 latents), label 10 = unconditional',
    architecture: { type: 'openai-unet', config: cfg.unet_config as Record<string, unknown> },
    weightsPrefix: 'model.diffusion_model.',
    autoencoder: {
      architecture: { type: 'autoencoder-kl', config: { embed_dim: ae.embed_dim, ddconfig: ae.ddconfig } },
      scaleFactor: Number(cfg.scale_factor),
      weightsPrefix: 'first_stage_model.',
    },
    schedule: { family: 'vp-discrete', betaSchedule: 'scaled_linear', numSteps: Number(cfg.timesteps), betaStart: Number(cfg.linear_start), betaEnd: Number(cfg.linear_end) },
    prediction: 'eps',
    dataShape: [32, 32, 1],
    latentShape: [h, w, c],
    classes: { count: 10, names: CLASS_NAMES },
    source: 'trained by scripts/train/autoencoder.py and scripts/train/ldm.py (see models/fashion-ldm/README.md)',
  }, ['autoencoder', 'ldm']);
}

async function edm(): Promise<void> {
  const cfg = await json(path.join(trainOut, 'edm/config.json'));
  await convert('fashion-edm', path.join(trainOut, 'edm/model.safetensors'), {
    name: 'fashion-edm',
    kind: 'pixel-diffusion',
    description: 'Class-conditional pixel-space EDM prior of Fashion-MNIST at 32x32x1; the zero label is unconditional',
    architecture: { type: 'dhariwal-unet', config: cfg.network as Record<string, unknown> },
    weightsPrefix: String(cfg.state_dict_prefix ?? ''),
    schedule: { family: 'edm', sigmaMin: Number(cfg.sigma_min), sigmaMax: Number(cfg.sigma_max), rho: Number(cfg.rho), sigmaData: Number(cfg.sigma_data) },
    prediction: 'x0',
    preconditioning: 'edm',
    dataShape: [32, 32, 1],
    classes: { count: 10, names: CLASS_NAMES },
    source: 'trained by scripts/train/edm.py (see models/fashion-edm/README.md)',
  }, ['edm']);
}

await initBackend();
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ['classifier', 'ldm', 'edm'];
const builders: Record<string, () => Promise<void>> = { classifier, ldm, edm };
for (const w of wanted) {
  const b = builders[w];
  if (!b) throw new Error(`unknown model '${w}' (classifier, ldm, edm)`);
  await b();
}
