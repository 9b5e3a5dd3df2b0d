/** Tiny model folders built from the parity fixtures, for tests of the model-facing nodes and solvers. */
import path from 'node:path';
import type { TensorMap } from '../../src/checkpoint/types.js';
import { writeModelFolder } from '../../src/models/folder.js';
import type { ModelManifest } from '../../src/models/manifest.js';
import { loadAutoencoderFixture } from '../networks/autoencoder-fixture.js';
import { loadUNetFixture } from '../networks/unet-fixture.js';
import { likelihoodScaleCommand } from '../../src/cli/likelihood-scale-command.js';
import { REPO } from '../engine/helpers.js';

export type Fixtures = {
  unet: Awaited<ReturnType<typeof loadUNetFixture>>;
  ae: Awaited<ReturnType<typeof loadAutoencoderFixture<Record<string, number | number[]>>>>;
};

export async function loadTinyLdmFixtures(): Promise<Fixtures> {
  return {
    unet: await loadUNetFixture('unet-openai-a'),
    ae: await loadAutoencoderFixture<Record<string, number | number[]>>('autoencoder-kl.safetensors'),
  };
}

/** The manifest of the tiny LDM: CompVis layout prefixes, eps prediction, 2 classes + null. */
export function tinyLdmManifest({ unet, ae }: Fixtures, name = 'tiny-ldm'): ModelManifest {
  const c = ae.config;
  return {
    name,
    kind: 'ldm',
    architecture: { type: 'openai-unet', config: unet.config },
    weightsPrefix: 'model.diffusion_model.',
    autoencoder: {
      architecture: {
        type: 'autoencoder-kl',
        config: {
          embed_dim: c.embedDim,
          ddconfig: {
            double_z: true,
            z_channels: c.zChannels,
            resolution: c.resolution,
            in_channels: c.inChannels,
            out_ch: c.outCh,
            ch: c.ch,
            ch_mult: c.chMult,
            num_res_blocks: c.numResBlocks,
            attn_resolutions: c.attnResolutions,
          },
        },
      },
      scaleFactor: 1,
      weightsPrefix: 'first_stage_model.',
    },
    schedule: { family: 'vp-discrete', betaSchedule: 'scaled_linear', numSteps: 1000 },
    prediction: 'eps',
    dataShape: [16, 16, 3],
    latentShape: [8, 8, 4],
    classes: { count: 2 },
  };
}

/** An LDM folder: the openai UNet fixture (eps, 2 classes + null) on the AutoencoderKL fixture (16x16x3 -> 8x8x4). */
export async function writeTinyLdm(dir: string, name = 'tiny-ldm'): Promise<string> {
  const fx = await loadTinyLdmFixtures();
  const merged: TensorMap = new Map();
  for (const [k, v] of fx.unet.weights) merged.set(`model.diffusion_model.${k}`, v);
  for (const [k, v] of fx.ae.weights) merged.set(`first_stage_model.${k}`, v);
  const out = path.join(dir, name);
  await writeModelFolder(out, tinyLdmManifest(fx, name), merged);
  return out;
}

/** A pixel EDM prior: the DhariwalUNet fixture (16x16x1, 3 classes, no augmentation labels). */
export async function writeTinyEdm(dir: string, name = 'tiny-edm'): Promise<string> {
  const fx = await loadUNetFixture('unet-dhariwal');
  const weights: TensorMap = new Map([...fx.weights].filter(([k]) => !k.startsWith('map_augment')));
  const out = path.join(dir, name);
  await writeModelFolder(
    out,
    {
      name,
      kind: 'pixel-diffusion',
      architecture: { type: 'dhariwal-unet', config: { ...fx.config, augment_dim: 0 } },
      schedule: { family: 'edm', sigmaMin: 0.002, sigmaMax: 80, rho: 7, sigmaData: 0.5 },
      prediction: 'x0',
      preconditioning: 'edm',
      dataShape: [16, 16, 1],
      classes: { count: 3 },
    },
    weights,
  );
  return out;
}

/** cin256-v2's conditioning in miniature (unet-openai-st-cin fixture): 4 classes, the embedder's row 4 the null class. */
export const TINY_CIN_CONDITIONING: Pick<ModelManifest, 'conditioning' | 'classes'> = {
  conditioning: {
    type: 'class-embedder',
    config: { n_classes: 5, embed_dim: 16, key: 'class_label' },
    weightsPrefix: 'cond_stage_model.',
    unconditionalClass: 4,
  },
  classes: { count: 4 },
};

/**
 * Give a tiny prior folder its likelihood scale b, computed by `flow likelihood-scale` from three
 * test photos: VIPaint's posterior-fit refuses a prior without one (docs/method.md section 3.1).
 */
export async function withLikelihoodScale(folder: string): Promise<string> {
  await likelihoodScaleCommand(path.join(REPO, 'assets/images/64/c*.png'), { count: 3, write: folder });
  return folder;
}
