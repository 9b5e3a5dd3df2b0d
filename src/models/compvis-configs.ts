/**
 * The `model:` sections of the official CompVis configs behind the presets (latent-diffusion /
 * stable-diffusion `configs/`), with training-only keys (losses, schedulers, data, logging) left
 * out. Values are the published ones; manifestFromCompVisConfig turns each into a manifest.
 */

const VQ_F4_FIRST_STAGE = `
    first_stage_config:
      target: ldm.models.autoencoder.VQModelInterface
      params:
        embed_dim: 3
        n_embed: 8192
        ddconfig: { double_z: false, z_channels: 3, resolution: 256, in_channels: 3, out_ch: 3, ch: 128, ch_mult: [1, 2, 4], num_res_blocks: 2, attn_resolutions: [], dropout: 0.0 }`;

/** The schedule and latent size shared by the VQ-f4 LDMs (cin256-v2, CelebA-HQ, FFHQ, LSUN bedrooms). */
const VQ_F4_LDM_HEAD = `
model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.0015
    linear_end: 0.0195
    timesteps: 1000
    image_size: 64
    channels: 3`;

/** configs/latent-diffusion/{celebahq,ffhq,lsun_bedrooms}-ldm-vq-4.yaml (identical model sections). */
const LDM_VQ4_FACES_BEDROOMS = `${VQ_F4_LDM_HEAD}
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params: { image_size: 64, in_channels: 3, out_channels: 3, model_channels: 224, attention_resolutions: [8, 4, 2], num_res_blocks: 2, channel_mult: [1, 2, 3, 4], num_head_channels: 32 }
${VQ_F4_FIRST_STAGE}
    cond_stage_config: __is_unconditional__
`;

export const COMPVIS_CONFIGS = {
  /** configs/latent-diffusion/cin256-v2.yaml: the class-conditional ImageNet LDM (cross-attention on a ClassEmbedder). */
  'cin256-v2': `${VQ_F4_LDM_HEAD}
    conditioning_key: crossattn
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params: { image_size: 64, in_channels: 3, out_channels: 3, model_channels: 192, attention_resolutions: [8, 4, 2], num_res_blocks: 2, channel_mult: [1, 2, 3, 5], num_heads: 1, use_spatial_transformer: true, transformer_depth: 1, context_dim: 512 }
${VQ_F4_FIRST_STAGE}
    cond_stage_config:
      target: ldm.modules.encoders.modules.ClassEmbedder
      params: { n_classes: 1001, embed_dim: 512, key: class_label }
`,
  'celebahq-ldm-vq-4': LDM_VQ4_FACES_BEDROOMS,
  'ffhq-ldm-vq-4': LDM_VQ4_FACES_BEDROOMS,
  'lsun_bedrooms-ldm-vq-4': LDM_VQ4_FACES_BEDROOMS,
  /** configs/latent-diffusion/lsun_churches-ldm-kl-8.yaml (scale_by_std: the factor is a checkpoint buffer). */
  'lsun_churches-ldm-kl-8': `
model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.0015
    linear_end: 0.0155
    timesteps: 1000
    image_size: 32
    channels: 4
    scale_by_std: true
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params: { image_size: 32, in_channels: 4, out_channels: 4, model_channels: 192, attention_resolutions: [1, 2, 4, 8], num_res_blocks: 2, channel_mult: [1, 2, 2, 4, 4], num_heads: 8, use_scale_shift_norm: true, resblock_updown: true }
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        ddconfig: { double_z: true, z_channels: 4, resolution: 256, in_channels: 3, out_ch: 3, ch: 128, ch_mult: [1, 2, 4, 4], num_res_blocks: 2, attn_resolutions: [], dropout: 0.0 }
    cond_stage_config: __is_unconditional__
`,
  /** stable-diffusion configs/stable-diffusion/v1-inference.yaml (the text encoder is not part of flow). */
  'v1-inference': `
model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.0120
    timesteps: 1000
    image_size: 64
    channels: 4
    conditioning_key: crossattn
    scale_factor: 0.18215
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params: { image_size: 32, in_channels: 4, out_channels: 4, model_channels: 320, attention_resolutions: [4, 2, 1], num_res_blocks: 2, channel_mult: [1, 2, 4, 4], num_heads: 8, use_spatial_transformer: true, transformer_depth: 1, context_dim: 768, use_checkpoint: true, legacy: false }
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        ddconfig: { double_z: true, z_channels: 4, resolution: 512, in_channels: 3, out_ch: 3, ch: 128, ch_mult: [1, 2, 4, 4], num_res_blocks: 2, attn_resolutions: [], dropout: 0.0 }
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
`,
} as const;

export type CompVisConfigName = keyof typeof COMPVIS_CONFIGS;
