/**
 * From a model folder to usable networks: the diffusion prior (denoiser in its own space plus the
 * autoencoder's decode/encode for LDMs), the autoencoder alone, a classifier, or a perceptual
 * distance (LPIPS). This is the one code path for the embedded default models and for users'
 * converted checkpoints.
 *
 * Class labels: a class-conditional model with `classes.count = C` takes labels 0..C-1, and label
 * C is the null (unconditional) class used for classifier-free guidance. For CompVis UNets that is
 * row C of `label_emb` (trained with label dropout onto it, so num_classes = C + 1); for EDM's
 * DhariwalUNet, whose labels are one-hot vectors, the null class is the all-zero vector (as
 * EDMPrecond's label dropout produces).
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import type { ModelKind, ModelManifest, ArchitectureSpec } from './manifest.js';
import { autoencoderTensors, loadModelFolder, networkTensors, type ModelFolder } from './folder.js';
import type { TensorMap } from '../checkpoint/types.js';
import { OpenAIUNet, type OpenAIUNetConfig } from '../networks/unet-openai.js';
import { DhariwalUNet, type DhariwalUNetConfig } from '../networks/unet-dhariwal.js';
import { AutoencoderKL } from '../networks/autoencoder-kl.js';
import { VQModel } from '../networks/vq-model.js';
import { ddConfigFromOfficial } from '../networks/autoencoder-blocks.js';
import { makeDenoiser, type Denoiser, type RawNetwork } from '../networks/denoiser.js';
import { withGuidance } from '../networks/guidance.js';
import { Classifier, type ClassifierConfig } from '../networks/classifier.js';
import { LpipsSqueeze } from '../networks/lpips.js';
import { createSchedule, type ScheduleSpec } from '../schedules/index.js';
import type { DiffusionPrior } from '../solvers/prior.js';
import { bindContext, crossAttentionNet, type ContextSlot } from './conditioning.js';

export interface Autoencoder {
  /** Images in [-1, 1] -> LDM latents (encoder mean times the scale factor). Differentiable. */
  encode(x: tf.Tensor4D): tf.Tensor4D;
  /** LDM latents -> images. Differentiable. */
  decode(z: tf.Tensor4D): tf.Tensor4D;
  readonly latentShape: [number, number, number];
  dispose(): void;
}

export interface PriorOptions {
  /** Classifier-free guidance scale (1 = plain conditional). */
  guidance?: number;
  /** Class label(s) to condition on: one for all samples, or one per sample. Default: unconditional. */
  labels?: number | number[];
  /**
   * Context-conditioned models (conditioning type 'context'): the cross-attention context
   * [tokens, context_dim] (or [1, tokens, context_dim]); with guidance != 1 it is guided against
   * `unconditionalContext` (default zeros). The prior owns neither tensor.
   */
  context?: tf.Tensor;
  unconditionalContext?: tf.Tensor;
}

export interface LoadedModel {
  readonly name: string;
  readonly kind: ModelKind;
  readonly dir: string;
  /** Content digest of the folder (model.yaml and weights): part of every downstream cache key. */
  readonly digest: string;
  readonly manifest: ModelManifest;
  readonly numClasses?: number;
  readonly classNames?: string[];
  /** The unguided denoiser (diffusion models). */
  readonly denoiser?: Denoiser;
  readonly autoencoder?: Autoencoder;
  /** Classifier models: logits and penultimate features of images in [-1, 1]. */
  readonly classifier?: Classifier;
  /** Perceptual models (LPIPS): a differentiable per-sample distance between images in [-1, 1]. */
  readonly perceptual?: LpipsSqueeze;
  /** The solver-facing prior, optionally class-conditioned with guidance. */
  prior(options?: PriorOptions): DiffusionPrior;
  dispose(): void;
}

export class ModelBuildError extends Error {}

function fail(folder: ModelFolder, msg: string): never {
  throw new ModelBuildError(`${path.join(folder.dir, 'model.yaml')}: ${msg}`);
}

function buildAutoencoder(folder: ModelFolder, tensors: TensorMap, spec: ArchitectureSpec, scaleFactor: number): Autoencoder {
  const cfg = spec.config as Record<string, unknown>;
  const dd = ddConfigFromOfficial((cfg.ddconfig ?? cfg) as Record<string, unknown>);
  const embedDim = Number(cfg.embed_dim ?? cfg.embedDim);
  if (!Number.isInteger(embedDim) || embedDim <= 0) fail(folder, 'autoencoder config needs embed_dim');
  const down = 2 ** (dd.chMult.length - 1);
  const latentShape: [number, number, number] = [dd.resolution / down, dd.resolution / down, embedDim];
  if (spec.type === 'autoencoder-kl') {
    const ae = AutoencoderKL.fromCheckpoint(tensors, { ...dd, embedDim, scaleFactor });
    return {
      encode: (x) => ae.encodeScaled(x),
      decode: (z) => ae.decodeScaled(z),
      latentShape,
      dispose: () => ae.dispose(),
    };
  }
  if (spec.type === 'vq-model') {
    const nEmbed = Number(cfg.n_embed ?? cfg.nEmbed);
    const vq = VQModel.fromCheckpoint(tensors, { ...dd, embedDim, nEmbed, scaleFactor });
    return {
      encode: (x) => vq.encodeScaled(x),
      decode: (z) => vq.decodeScaled(z),
      latentShape,
      dispose: () => vq.dispose(),
    };
  }
  return fail(folder, `architecture '${spec.type}' is not an autoencoder`);
}

/** One-hot rows for DhariwalUNet; the null class (index = labelDim) is the zero vector. */
function oneHot(labels: tf.Tensor1D, labelDim: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.cast(labels, 'int32'), labelDim + 1).slice([0, 0], [-1, labelDim]).toFloat() as tf.Tensor2D);
}

function buildDenoiser(
  folder: ModelFolder,
  m: ModelManifest,
  tensors: TensorMap,
  contexts: ContextSlot,
): { denoiser: Denoiser; dispose: () => void } {
  if (!m.schedule) fail(folder, 'a diffusion model needs a schedule');
  if (!m.prediction) fail(folder, 'a diffusion model needs a prediction type');
  const schedule = createSchedule(m.schedule as unknown as ScheduleSpec);
  // A context-conditioned model is a two-"class" model: 0 = the bound context, 1 = the null one.
  const numClasses = m.conditioning?.type === 'context' ? 1 : m.classes?.count;
  const space = m.kind === 'ldm' ? 'latent' : 'pixel';
  const dataShape = (m.kind === 'ldm' ? m.latentShape : m.dataShape) as [number, number, number];
  let net: RawNetwork;
  let dispose: () => void;
  if (m.architecture.type === 'openai-unet') {
    const unet = OpenAIUNet.load(tensors, m.architecture.config as unknown as OpenAIUNetConfig);
    const cond = m.conditioning?.type;
    if (cond === 'class-embedder' || cond === 'context') {
      const ctx = crossAttentionNet(folder, unet, contexts);
      net = ctx.net;
      dispose = ctx.dispose;
    } else {
      const conditional = unet.config.num_classes !== undefined && unet.config.num_classes !== null;
      if (conditional && numClasses !== undefined && unet.config.num_classes !== numClasses + 1) {
        fail(folder, `classes.count ${numClasses} needs num_classes ${numClasses + 1} (the extra row is the null class)`);
      }
      net = (z, t, labels) => {
        if (!conditional) return unet.forward(z, t);
        const l = labels ?? tf.fill([z.shape[0]], numClasses ?? 0, 'int32');
        const out = unet.forward(z, t, l as tf.Tensor1D);
        if (!labels) l.dispose();
        return out;
      };
      dispose = () => unet.dispose();
    }
  } else if (m.architecture.type === 'dhariwal-unet') {
    const cfg = m.architecture.config as unknown as DhariwalUNetConfig;
    const unet = DhariwalUNet.load(tensors, cfg);
    const labelDim = unet.labelDim;
    net = (z, t, labels) => {
      if (!labelDim || !labels) return unet.forward(z, t);
      const hot = oneHot(labels, labelDim);
      const out = unet.forward(z, t, hot);
      hot.dispose();
      return out;
    };
    dispose = () => unet.dispose();
  } else {
    return fail(folder, `architecture '${m.architecture.type}' is not a diffusion network`);
  }
  const denoiser = makeDenoiser({
    net,
    parameterization: m.prediction as 'eps' | 'x0' | 'v',
    schedule,
    space,
    dataShape,
    numClasses,
    preconditioning: m.preconditioning ?? 'none',
  });
  return { denoiser, dispose };
}

/** Build the networks a model folder describes. */
export function buildModel(folder: ModelFolder): LoadedModel {
  const m = folder.manifest;
  const disposers: (() => void)[] = [];
  const contexts: ContextSlot = { table: undefined };
  disposers.push(() => contexts.table?.dispose());
  let denoiser: Denoiser | undefined;
  let autoencoder: Autoencoder | undefined;
  try {
    if (m.kind === 'ldm' || m.kind === 'pixel-diffusion') {
      const built = buildDenoiser(folder, m, networkTensors(folder), contexts);
      denoiser = built.denoiser;
      disposers.push(built.dispose);
    }
    if (m.kind === 'ldm' || m.kind === 'autoencoder') {
      const spec = m.kind === 'ldm' ? m.autoencoder?.architecture : m.architecture;
      if (!spec) fail(folder, 'an LDM needs an autoencoder');
      const tensors = m.kind === 'ldm' ? autoencoderTensors(folder) : networkTensors(folder);
      autoencoder = buildAutoencoder(folder, tensors, spec, m.autoencoder?.scaleFactor ?? 1);
      disposers.push(() => autoencoder?.dispose());
    }
  } catch (e) {
    for (const d of disposers) d();
    if (e instanceof ModelBuildError) throw e;
    throw new ModelBuildError(`${path.join(folder.dir, 'model.yaml')}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let classifier: Classifier | undefined;
  if (m.kind === 'classifier') {
    if (m.architecture.type !== 'classifier-cnn') fail(folder, `a classifier's architecture must be 'classifier-cnn'`);
    try {
      classifier = Classifier.load(networkTensors(folder), m.architecture.config as unknown as ClassifierConfig);
    } catch (e) {
      fail(folder, e instanceof Error ? e.message : String(e));
    }
    const c = classifier;
    disposers.push(() => c.dispose());
  }
  let perceptual: LpipsSqueeze | undefined;
  if (m.kind === 'perceptual') {
    if (m.architecture.type !== 'lpips-squeeze') fail(folder, `a perceptual model's architecture must be 'lpips-squeeze'`);
    try {
      perceptual = LpipsSqueeze.load(networkTensors(folder));
    } catch (e) {
      fail(folder, e instanceof Error ? e.message : String(e));
    }
    const p = perceptual;
    disposers.push(() => p.dispose());
  }
  const imageShape = m.dataShape;
  return {
    name: m.name,
    kind: m.kind,
    dir: folder.dir,
    digest: folder.digest,
    manifest: m,
    numClasses: m.classes?.count,
    classNames: m.classes?.names,
    denoiser,
    autoencoder,
    classifier,
    perceptual,
    prior(options: PriorOptions = {}): DiffusionPrior {
      if (!denoiser) throw new ModelBuildError(`model '${m.name}' (${m.kind}) is not a diffusion prior`);
      if (m.conditioning?.type === 'context') {
        bindContext(folder, contexts, options);
        options = { ...options, labels: 0 };
      }
      const guided =
        options.labels !== undefined
          ? withGuidance(denoiser, { scale: options.guidance ?? 1, labels: options.labels })
          : denoiser;
      const ae = autoencoder;
      return {
        denoiser: guided,
        space: ae ? 'latent' : 'pixel',
        imageShape,
        latentShape: ae ? ae.latentShape : imageShape,
        decode: (z) => (ae ? ae.decode(z) : tf.clone(z)),
        encode: (x) => (ae ? ae.encode(x) : tf.clone(x)),
      };
    },
    dispose: () => {
      for (const d of disposers) d();
    },
  };
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  return buildModel(await loadModelFolder(dir));
}
