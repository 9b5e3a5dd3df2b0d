/**
 * Presets: the public checkpoints flow knows by name. A preset carries the official configuration
 * (CompVis YAML, EDM network kwargs), so `flow convert CKPT --preset NAME` writes the model folder
 * without a hand-written manifest, and says which file the user needs and where it is published.
 * Key names and shapes are checked (every network built once) before anything is written.
 *
 * API for other front ends (the hub client): `listPresets()`, `findPreset(name)` and
 * `convertWithPreset(name, files, outDir, options)`.
 */
import { stat } from 'node:fs/promises';
import type { TensorMap } from '../checkpoint/types.js';
import { manifestFromCompVisConfig, type CompVisOptions } from './compvis.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { COMPVIS_CONFIGS, type CompVisConfigName } from './compvis-configs.js';
import { keepDeclared, readSelected } from './import.js';
import type { ModelManifest } from './manifest.js';
import { writeConverted, type ConvertReport } from './convert.js';
import { hasPrefix } from '../checkpoint/select.js';

/** A file a preset needs, and where it is published. */
export interface PresetFile {
  /** What the file is, e.g. 'model.ckpt from cin.zip'. */
  description: string;
  /** The official download (a web page or a direct link). */
  url: string;
  /** Where it is on the Hugging Face hub, when it is: repository and file (glob) within it. */
  hub?: { repo: string; include: string };
}

export interface Preset {
  name: string;
  description: string;
  /** Alternatives: any one of these files will do. */
  needs: readonly PresetFile[];
  /** Torch reading options the checkpoint needs (EDM pickles are whole-object). */
  read?: { opaque?: boolean };
  /** The manifest for a checkpoint's (EMA-selected) tensors: some values live in the checkpoint. */
  manifest(tensors: TensorMap): ModelManifest;
}

const OMMER = 'https://ommer-lab.com/files/latent-diffusion';

/** A CompVis config's manifest, with the scale factor a scale_by_std model stores as a buffer. */
function compvisManifest(text: string, options: CompVisOptions, tensors: TensorMap): ModelManifest {
  const m = manifestFromCompVisConfig(text, options);
  const stored = tensors.get('scale_factor');
  if (m.autoencoder && stored && stored.data.length === 1) m.autoencoder.scaleFactor = Number(stored.data[0]);
  return m;
}

function compvis(config: CompVisConfigName, name: string, description: string, source: string): (t: TensorMap) => ModelManifest {
  return (tensors) => compvisManifest(COMPVIS_CONFIGS[config], { name, file: `preset ${name}`, description, source }, tensors);
}

function ldmPreset(name: string, config: CompVisConfigName, description: string, zip: string): Preset {
  const url = `${OMMER}/${zip}`;
  return {
    name,
    description,
    needs: [{ description: zip.endsWith('.zip') ? `model.ckpt inside ${zip}` : zip, url }],
    manifest: compvis(config, name, description, url),
  };
}

/** EDM's ImageNet-64 network (train.py --arch=adm --cond=1: DhariwalUNet defaults, no augmentation labels). */
const EDM_IMAGENET64_URL = 'https://nvlabs-fi-cdn.nvidia.com/edm/pretrained/edm-imagenet-64x64-cond-adm.pkl';
function edmImageNet64(): ModelManifest {
  return {
    name: 'edm-imagenet64-cond',
    kind: 'pixel-diffusion',
    description: 'EDM class-conditional ImageNet 64x64 (ADM architecture), the paper pixel-space prior',
    architecture: {
      type: 'dhariwal-unet',
      config: { img_resolution: 64, in_channels: 3, out_channels: 3, label_dim: 1000, augment_dim: 0, model_channels: 192, channel_mult: [1, 2, 3, 4], channel_mult_emb: 4, num_blocks: 3, attn_resolutions: [32, 16, 8] },
    },
    weightsPrefix: 'model.',
    schedule: { family: 'edm', sigmaMin: 0.002, sigmaMax: 80, rho: 7, sigmaData: 0.5 },
    prediction: 'x0',
    preconditioning: 'edm',
    dataShape: [64, 64, 3],
    classes: { count: 1000 },
    source: EDM_IMAGENET64_URL,
  };
}

const SD_FILES: readonly PresetFile[] = [
  {
    description: 'v1-5-pruned-emaonly.safetensors (or any SD v1.x checkpoint in CompVis layout)',
    url: 'https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5',
    hub: { repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5', include: 'v1-5-pruned-emaonly.safetensors' },
  },
  {
    description: 'sd-v1-4.ckpt',
    url: 'https://huggingface.co/CompVis/stable-diffusion-v-1-4-original',
    hub: { repo: 'CompVis/stable-diffusion-v-1-4-original', include: 'sd-v1-4.ckpt' },
  },
];

/** SD v1's autoencoder alone: from a full SD checkpoint (under first_stage_model.) or a standalone VAE file. */
function sdVae(tensors: TensorMap): ModelManifest {
  const full = manifestFromCompVisConfig(COMPVIS_CONFIGS['v1-inference'], { name: 'sd-v1-vae', file: 'preset sd-v1-vae' });
  const ae = full.autoencoder;
  if (!ae) throw new Error('preset sd-v1-vae: the v1-inference config has no first stage');
  return {
    name: 'sd-v1-vae',
    kind: 'autoencoder',
    description: 'Stable Diffusion v1 KL-f8 autoencoder (4 latent channels); LDM latents are 0.18215 times its encoder mean',
    architecture: ae.architecture,
    weightsPrefix: hasPrefix(tensors, 'first_stage_model.') ? 'first_stage_model.' : '',
    dataShape: [512, 512, 3],
    latentShape: [64, 64, 4],
    source: 'https://huggingface.co/stabilityai/sd-vae-ft-mse-original',
  };
}

const PRESETS: readonly Preset[] = [
  ldmPreset('cin256-v2', 'cin256-v2', 'CompVis class-conditional ImageNet 256 LDM (VQ-f4, cross-attention on a class embedding; label 1000 = no class), the paper ImageNet prior', 'nitro/cin/model.ckpt'),
  ldmPreset('celebahq-ldm-vq-4', 'celebahq-ldm-vq-4', 'CompVis unconditional CelebA-HQ 256 LDM (VQ-f4)', 'celeba.zip'),
  ldmPreset('ffhq-ldm-vq-4', 'ffhq-ldm-vq-4', 'CompVis unconditional FFHQ 256 LDM (VQ-f4)', 'ffhq.zip'),
  ldmPreset('lsun-bedrooms-ldm-vq-4', 'lsun_bedrooms-ldm-vq-4', 'CompVis unconditional LSUN bedrooms 256 LDM (VQ-f4)', 'lsun_bedrooms.zip'),
  ldmPreset('lsun-churches-ldm-kl-8', 'lsun_churches-ldm-kl-8', 'CompVis unconditional LSUN churches 256 LDM (KL-f8, scale factor from the checkpoint)', 'lsun_churches.zip'),
  {
    name: 'edm-imagenet64-cond',
    description: 'NVlabs EDM class-conditional ImageNet 64 pixel-space network (DhariwalUNet, EDM preconditioning)',
    needs: [{ description: 'edm-imagenet-64x64-cond-adm.pkl', url: EDM_IMAGENET64_URL }],
    read: { opaque: true },
    manifest: edmImageNet64,
  },
  {
    name: 'sd-v1',
    description: 'Stable Diffusion v1 UNet and VAE as an LDM whose cross-attention context [77, 768] is given at run time (no text encoder in flow)',
    needs: SD_FILES,
    manifest: compvis('v1-inference', 'sd-v1', 'Stable Diffusion v1 (UNet + KL-f8 VAE), context-conditioned', SD_FILES[0]?.url ?? ''),
  },
  {
    name: 'sd-v1-vae',
    description: 'Stable Diffusion v1 KL-f8 autoencoder alone',
    needs: [
      ...SD_FILES,
      {
        description: 'vae-ft-mse-840000-ema-pruned.safetensors (the fine-tuned SD VAE)',
        url: 'https://huggingface.co/stabilityai/sd-vae-ft-mse-original',
        hub: { repo: 'stabilityai/sd-vae-ft-mse-original', include: 'vae-ft-mse-840000-ema-pruned.safetensors' },
      },
    ],
    manifest: sdVae,
  },
];

export function listPresets(): readonly Preset[] {
  return PRESETS;
}

export function findPreset(name: string): Preset {
  const p = PRESETS.find((x) => x.name === name);
  if (!p) throw new Error(`unknown preset '${name}' (known: ${PRESETS.map((x) => x.name).join(', ')})`);
  return p;
}

/** One line per file a preset needs, for messages and `--list-presets`. */
export function describeNeeds(p: Preset): string {
  return p.needs.map((f) => `${f.description} (${f.url})`).join(' or ');
}

export interface PresetConvertOptions {
  /** EMA or raw weights when the checkpoint has both (default 'ema'). */
  prefer?: 'ema' | 'model';
  /** Replace an existing folder (default: refuse). */
  overwrite?: boolean;
}

/**
 * Convert the downloaded `files` (local paths) into the model folder `outDir` with preset
 * `presetName`. `files` holds one checkpoint file (any of `preset.needs`), or a diffusers model
 * folder (see diffusers.ts). Nothing is written unless every network builds from the weights.
 */
export async function convertWithPreset(presetName: string, files: readonly string[], outDir: string, options: PresetConvertOptions = {}): Promise<ConvertReport> {
  const preset = findPreset(presetName);
  if (files.length !== 1) throw new Error(`preset ${preset.name}: expected one checkpoint file, got ${files.length} (${describeNeeds(preset)})`);
  const file = files[0] as string;
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new Error(`${file}: not found (preset ${preset.name} needs ${describeNeeds(preset)})`);
  const read = await readSelected(file, { prefer: options.prefer, opaque: preset.read?.opaque });
  const manifest = preset.manifest(read.selection.tensors);
  const prepared = keepDeclared(read, manifest);
  return writeConverted(manifest, prepared, { out: outDir, source: file, against: `preset ${preset.name} (needs ${describeNeeds(preset)})`, overwrite: options.overwrite });
}

/**
 * `flow convert CKPT --compvis-config config.yaml`: the manifest from the config that ships beside
 * a CompVis checkpoint (named after the output folder), then the same checks as a preset.
 */
export async function convertWithCompVisConfig(configFile: string, checkpoint: string, outDir: string, options: PresetConvertOptions = {}): Promise<ConvertReport> {
  const text = await readFile(configFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${configFile}: cannot read the config (${e.code ?? e.message})`);
  });
  const read = await readSelected(checkpoint, { prefer: options.prefer });
  const manifest = compvisManifest(text, { name: path.basename(path.resolve(outDir)), file: configFile }, read.selection.tensors);
  return writeConverted(manifest, keepDeclared(read, manifest), { out: outDir, source: checkpoint, against: configFile, overwrite: options.overwrite });
}
