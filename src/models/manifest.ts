/**
 * model.yaml: what a model folder (`models/<name>/model.yaml` + `weights.safetensors`) declares
 * about its network, so pipelines can build and use it without any code knowing the model.
 *
 * Weights are stored under their official PyTorch state_dict names. `weightsPrefix` says under
 * which prefix the network's tensors live in the weights file (a converted CompVis LDM checkpoint
 * keeps `model.diffusion_model.` for the UNet and `first_stage_model.` for the autoencoder).
 */

export type ModelKind = 'ldm' | 'pixel-diffusion' | 'autoencoder' | 'classifier' | 'perceptual';

export const ARCHITECTURE_TYPES = [
  'openai-unet',
  'dhariwal-unet',
  'song-unet',
  'autoencoder-kl',
  'vq-model',
  'classifier-cnn',
  'lpips-squeeze',
] as const;
export type ArchitectureType = (typeof ARCHITECTURE_TYPES)[number];

export interface ArchitectureSpec {
  type: ArchitectureType;
  /** Constructor arguments of the network, under the official names (e.g. LDM YAML `params`). */
  config: Record<string, unknown>;
}

export interface AutoencoderSpec {
  architecture: ArchitectureSpec;
  /** LDM `scale_factor`: z_ldm = scaleFactor * encoder latent. */
  scaleFactor: number;
  /** Prefix of the autoencoder's tensors in its weights file (default '' or, sharing the main file, required). */
  weightsPrefix?: string;
  /** A separate weights file in the folder; absent = the model's main weights file. */
  weights?: string;
}

/**
 * 'class-embedder': CompVis ClassEmbedder (a learned embedding table, official params `embed_dim`,
 * `n_classes`, `key`) whose output is the UNet's cross-attention context; 'class-label': the
 * network takes labels itself (EDM `label_dim`, OpenAI UNet `num_classes`); 'context': the
 * cross-attention context is given at run time as a tensor [tokens, context_dim] (config
 * `{ context_dim, tokens }`; e.g. Stable Diffusion's CLIP text embedding [77, 768], computed
 * outside flow), the null context being the one given as `unconditional` or zeros.
 */
export interface ConditioningSpec {
  type: 'class-embedder' | 'class-label' | 'context';
  /** Official constructor params of the embedder, when it is a separate module. */
  config?: Record<string, unknown>;
  /** Prefix of the embedder's tensors in the weights file (e.g. 'cond_stage_model.'). */
  weightsPrefix?: string;
  /** The label meaning "no class" for classifier-free guidance (e.g. 1000 for CompVis cin256-v2). */
  unconditionalClass?: number;
}

export interface ModelManifest {
  name: string;
  kind: ModelKind;
  description?: string;
  architecture: ArchitectureSpec;
  /** Prefix of the network's tensors in the weights file; '' (default) = the whole file. */
  weightsPrefix?: string;
  /** Latent diffusion models: the first-stage autoencoder. */
  autoencoder?: AutoencoderSpec;
  /** How class labels reach the network, for class-conditional models. */
  conditioning?: ConditioningSpec;
  /** Noise schedule as a ScheduleSpec (src/schedules/types.ts): `family` plus its parameters. */
  schedule?: { family: string; [k: string]: unknown };
  /** What the network predicts. */
  prediction?: 'eps' | 'x0' | 'v';
  /** 'edm': the network is wrapped in EDM's c_skip/c_out/c_in/c_noise preconditioning. Default 'none'. */
  preconditioning?: 'edm' | 'none';
  /** Data (pixel) shape [H, W, C]. */
  dataShape: [number, number, number];
  /** Latent shape [h, w, c] the diffusion runs in (ldm). */
  latentShape?: [number, number, number];
  /** Class-conditional models and classifiers. */
  classes?: { count: number; names?: string[] };
  /** Range of data values the network expects. Default [-1, 1]. */
  dataRange?: [number, number];
  /** Main weights file in the folder. Default 'weights.safetensors'. */
  weights?: string;
  /** Free-text provenance: where the weights came from, licence, conversion command. */
  source?: string;
  /**
   * Diffusion priors: the scale b of VIPaint's Laplace likelihood, the pixel standard deviation of
   * the model's data (docs/method.md; computed by `flow likelihood-scale`, never guessed).
   */
  likelihoodScale?: { b: number; images: string; count: number };
  /** sha256 (hex) of each weights file, recorded when the folder is written and checked on load. */
  sha256?: Record<string, string>;
}

const shape3 = {
  type: 'array',
  items: { type: 'integer', minimum: 1 },
  minItems: 3,
  maxItems: 3,
} as const;

/** A plain file name inside the folder: no directories, not '.' or '..'. */
const fileName = { type: 'string', pattern: '^(?!\\.\\.?$)[^/\\\\]+$' } as const;

const architecture = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'config'],
  properties: {
    type: { enum: [...ARCHITECTURE_TYPES] },
    config: { type: 'object' },
  },
} as const;

/** JSON Schema (draft-07, as ajv uses by default) of model.yaml. */
export const modelManifestSchema = {
  $id: 'flow/model.yaml',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind', 'architecture', 'dataShape'],
  properties: {
    name: { type: 'string', minLength: 1 },
    kind: { enum: ['ldm', 'pixel-diffusion', 'autoencoder', 'classifier', 'perceptual'] },
    description: { type: 'string' },
    architecture,
    weightsPrefix: { type: 'string' },
    autoencoder: {
      type: 'object',
      additionalProperties: false,
      required: ['architecture', 'scaleFactor'],
      properties: {
        architecture,
        scaleFactor: { type: 'number', exclusiveMinimum: 0 },
        weightsPrefix: { type: 'string' },
        weights: fileName,
      },
    },
    conditioning: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: ['class-embedder', 'class-label', 'context'] },
        config: { type: 'object' },
        weightsPrefix: { type: 'string' },
        unconditionalClass: { type: 'integer', minimum: 0 },
      },
    },
    schedule: {
      type: 'object',
      required: ['family'],
      properties: { family: { enum: ['vp-discrete', 'vp-continuous', 've', 'edm'] } },
    },
    prediction: { enum: ['eps', 'x0', 'v'] },
    preconditioning: { enum: ['edm', 'none'] },
    dataShape: shape3,
    latentShape: shape3,
    classes: {
      type: 'object',
      additionalProperties: false,
      required: ['count'],
      properties: {
        count: { type: 'integer', minimum: 1 },
        names: { type: 'array', items: { type: 'string' } },
      },
    },
    dataRange: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
    weights: fileName,
    source: { type: 'string' },
    likelihoodScale: {
      type: 'object',
      additionalProperties: false,
      required: ['b', 'images', 'count'],
      properties: {
        b: { type: 'number', exclusiveMinimum: 0 },
        images: { type: 'string', minLength: 1 },
        count: { type: 'integer', minimum: 1 },
      },
    },
    sha256: {
      type: 'object',
      propertyNames: fileName,
      additionalProperties: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    },
  },
  allOf: [
    {
      if: { properties: { kind: { const: 'ldm' } } },
      then: { required: ['autoencoder', 'latentShape', 'schedule', 'prediction'] },
    },
    {
      if: { properties: { kind: { const: 'pixel-diffusion' } } },
      then: { required: ['schedule', 'prediction'] },
    },
    {
      if: { properties: { kind: { const: 'classifier' } } },
      then: { required: ['classes'] },
    },
  ],
} as const;

export const DEFAULT_WEIGHTS_FILE = 'weights.safetensors';

/** The manifest with every default filled in. */
export function withDefaults(m: ModelManifest): ModelManifest {
  return {
    ...m,
    weights: m.weights ?? DEFAULT_WEIGHTS_FILE,
    weightsPrefix: m.weightsPrefix ?? '',
    preconditioning: m.preconditioning ?? 'none',
    dataRange: m.dataRange ?? [-1, 1],
  };
}
