import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manifestFromCompVisConfig } from '../../src/models/compvis.js';

// Configs in the CompVis latent-diffusion format (model.target / model.params), written for these tests.
const UNCONDITIONAL_VQ_F4 = `
model:
  base_learning_rate: 2.0e-06
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.0015
    linear_end: 0.0195
    timesteps: 1000
    image_size: 64
    channels: 3
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params: { image_size: 64, in_channels: 3, out_channels: 3, model_channels: 224,
                attention_resolutions: [8, 4, 2], num_res_blocks: 2, channel_mult: [1, 2, 3, 4], num_head_channels: 32 }
    first_stage_config:
      target: ldm.models.autoencoder.VQModelInterface
      params:
        embed_dim: 3
        n_embed: 8192
        ckpt_path: somewhere/model.ckpt
        ddconfig: { double_z: false, z_channels: 3, resolution: 256, in_channels: 3, out_ch: 3, ch: 128,
                    ch_mult: [1, 2, 4], num_res_blocks: 2, attn_resolutions: [], dropout: 0.0 }
        lossconfig: { target: torch.nn.Identity }
    cond_stage_config: __is_unconditional__
data:
  target: main.DataModuleFromConfig
`;

test('unconditional VQ-f4 LDM config -> manifest with explicit schedule, shapes and prefixes', () => {
  const m = manifestFromCompVisConfig(UNCONDITIONAL_VQ_F4, { name: 'ffhq-ldm', source: 'test' });
  assert.equal(m.kind, 'ldm');
  assert.equal(m.architecture.type, 'openai-unet');
  assert.equal(m.architecture.config['model_channels'], 224);
  assert.equal(m.weightsPrefix, 'model.diffusion_model.');
  // CompVis 'linear' = linear in sqrt(beta) = 'scaled_linear' in src/schedules.
  assert.deepEqual(m.schedule, {
    family: 'vp-discrete',
    betaSchedule: 'scaled_linear',
    numSteps: 1000,
    betaStart: 0.0015,
    betaEnd: 0.0195,
  });
  assert.equal(m.prediction, 'eps');
  assert.deepEqual(m.latentShape, [64, 64, 3]);
  assert.deepEqual(m.dataShape, [256, 256, 3]); // 64 * 2^(3 - 1)
  assert.equal(m.autoencoder?.architecture.type, 'vq-model');
  assert.equal(m.autoencoder?.scaleFactor, 1);
  assert.equal(m.autoencoder?.weightsPrefix, 'first_stage_model.');
  assert.deepEqual(Object.keys(m.autoencoder?.architecture.config ?? {}), ['embed_dim', 'n_embed', 'ddconfig']);
  assert.equal(m.conditioning, undefined);
});

test('class-conditional config: ClassEmbedder with the cin256-v2 null class, sqrt_linear and KL variants', () => {
  const cin = UNCONDITIONAL_VQ_F4.replace(
    'cond_stage_config: __is_unconditional__',
    'cond_stage_config:\n      target: ldm.modules.encoders.modules.ClassEmbedder\n      params: { embed_dim: 512, n_classes: 1001, key: class_label }',
  )
    .replace('timesteps: 1000', 'timesteps: 1000\n    beta_schedule: sqrt_linear\n    scale_factor: 0.18215\n    parameterization: x0')
    .replace('target: ldm.models.autoencoder.VQModelInterface', 'target: ldm.models.autoencoder.AutoencoderKL');
  const m = manifestFromCompVisConfig(cin, { name: 'cin' });
  assert.deepEqual(m.conditioning, {
    type: 'class-embedder',
    config: { n_classes: 1001, embed_dim: 512, key: 'class_label' },
    weightsPrefix: 'cond_stage_model.',
    unconditionalClass: 1000,
  });
  assert.deepEqual(m.classes, { count: 1000 });
  assert.equal(m.schedule?.['betaSchedule'], 'linear');
  assert.equal(m.prediction, 'x0');
  assert.equal(m.autoencoder?.architecture.type, 'autoencoder-kl');
  assert.equal(m.autoencoder?.scaleFactor, 0.18215);
});

test('autoencoder configs and unsupported targets', () => {
  const kl = `
model:
  target: ldm.models.autoencoder.AutoencoderKL
  params:
    embed_dim: 4
    monitor: val/rec_loss
    ddconfig: { double_z: true, z_channels: 4, resolution: 256, in_channels: 3, out_ch: 3, ch: 128,
                ch_mult: [1, 2, 4, 4], num_res_blocks: 2, attn_resolutions: [], dropout: 0.0 }
    lossconfig: { target: ldm.modules.losses.LPIPSWithDiscriminator }
`;
  const m = manifestFromCompVisConfig(kl, { name: 'kl-f8' });
  assert.equal(m.kind, 'autoencoder');
  assert.deepEqual(m.latentShape, [32, 32, 4]);
  assert.deepEqual(m.dataShape, [256, 256, 3]);
  assert.deepEqual(Object.keys(m.architecture.config), ['embed_dim', 'ddconfig']);
  assert.throws(
    () => manifestFromCompVisConfig(kl.replace('AutoencoderKL', 'VQModelDecoder'), { name: 'x', file: 'c.yaml' }),
    /c\.yaml: model target 'ldm\.models\.autoencoder\.VQModelDecoder' is not supported/,
  );
  assert.throws(
    () => manifestFromCompVisConfig(UNCONDITIONAL_VQ_F4.replace('timesteps: 1000', 'timesteps: 1000\n    beta_schedule: sqrt'), { name: 'x' }),
    /beta_schedule 'sqrt' is not supported/,
  );
});
