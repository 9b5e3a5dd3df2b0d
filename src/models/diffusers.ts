/**
 * diffusers model folders (`config.json` + `diffusion_pytorch_model.safetensors`, or shards
 * `diffusion_pytorch_model-0000i-of-0000n.safetensors` with `diffusion_pytorch_model.safetensors.index.json`),
 * and pipeline folders holding them (`unet/`, `vae/`), read as CompVis-named state_dicts so the
 * same networks, presets and checks apply. Key map (diffusers -> CompVis):
 *
 * UNet2DConditionModel -> openaimodel UNetModel (L = layers_per_block):
 *   conv_in -> input_blocks.0.0;  time_embedding.linear_1/2 -> time_embed.0/2;  conv_norm_out -> out.0;  conv_out -> out.2
 *   down_blocks.i.resnets.j -> input_blocks.(1 + i(L+1) + j).0;  down_blocks.i.attentions.j -> input_blocks.(1 + i(L+1) + j).1
 *   down_blocks.i.downsamplers.0.conv -> input_blocks.((i+1)(L+1)).0.op
 *   mid_block.resnets.0/1 -> middle_block.0/2;  mid_block.attentions.0 -> middle_block.1
 *   up_blocks.i.resnets.j -> output_blocks.(i(L+1) + j).0 (L+1 per block);  up_blocks.i.attentions.j -> ....1
 *   up_blocks.i.upsamplers.0.conv -> output_blocks.(i(L+1) + L).(2 with attention, else 1).conv
 *   in resnets: norm1 -> in_layers.0, conv1 -> in_layers.2, time_emb_proj -> emb_layers.1,
 *   norm2 -> out_layers.0, conv2 -> out_layers.3, conv_shortcut -> skip_connection;
 *   transformer names (norm, proj_in, transformer_blocks.k.*, proj_out) are the same.
 * AutoencoderKL -> CompVis AutoencoderKL (n = number of blocks):
 *   {en,de}coder.conv_norm_out -> norm_out;  *.mid_block.resnets.0/1 -> mid.block_1/2;
 *   *.mid_block.attentions.0.{group_norm, to_q|query, to_k|key, to_v|value, to_out.0|proj_attn} -> mid.attn_1.{norm, q, k, v, proj_out}
 *   (Linear [C, C] -> 1x1 conv [C, C, 1, 1]);  encoder.down_blocks.i.resnets.j -> encoder.down.i.block.j;
 *   encoder.down_blocks.i.downsamplers.0.conv -> encoder.down.i.downsample.conv;
 *   decoder.up_blocks.i.resnets.j -> decoder.up.(n-1-i).block.j;  decoder.up_blocks.i.upsamplers.0.conv -> decoder.up.(n-1-i).upsample.conv;
 *   conv_shortcut -> nin_shortcut;  quant_conv, post_quant_conv, conv_in, conv_out unchanged.
 * UNet2DModel -> openaimodel UNetModel without transformers: the same block map, plus
 *   class_embedding -> label_emb; attentions.j.{group_norm, to_out.0|proj_attn} -> {norm, proj_out}
 *   and to_q|query, to_k|key, to_v|value fused into one qkv ([3C, C, 1], rows q then k then v:
 *   the `use_new_attention_order` layout, which the produced config sets).
 * Configurations that the CompVis networks cannot express (other block types, norm settings,
 * time-embedding variants, class embeddings) are refused by name.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { readWholeFile } from '../checkpoint/file.js';
import { readSafetensorsWithMetadata } from '../checkpoint/safetensors.js';
import type { RawTensor, TensorMap } from '../checkpoint/types.js';
import type { ArchitectureSpec } from './manifest.js';

type Obj = Record<string, unknown>;
const WEIGHTS = 'diffusion_pytorch_model.safetensors';

export interface DiffusersModel {
  className: string;
  config: Obj;
  /** The network's tensors under CompVis names. */
  tensors: TensorMap;
  architecture: ArchitectureSpec;
  /** sha256 over the weight files (in order), for provenance. */
  sha256: string;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The weight files of a model folder: the single file, or the shards its index lists. */
async function weightFiles(dir: string): Promise<string[]> {
  if (await exists(path.join(dir, WEIGHTS))) return [path.join(dir, WEIGHTS)];
  const indexFile = path.join(dir, `${WEIGHTS}.index.json`);
  if (!(await exists(indexFile)))
    throw new Error(`${dir}: no ${WEIGHTS} nor ${WEIGHTS}.index.json (only safetensors diffusers folders are read)`);
  const index = JSON.parse(await readFile(indexFile, 'utf8')) as { weight_map?: Record<string, string> };
  if (!index.weight_map) throw new Error(`${indexFile}: no weight_map`);
  return [...new Set(Object.values(index.weight_map))].sort().map((f) => path.join(dir, path.basename(f)));
}

function fail(where: string, m: string): never {
  throw new Error(`${where}: ${m}`);
}

const num = (c: Obj, k: string, d?: number): number => {
  const v = c[k] ?? d;
  if (typeof v !== 'number') throw new Error(`config.json: '${k}' must be a number`);
  return v;
};

function multipliers(where: string, channels: number[]): number[] {
  const base = channels[0] ?? fail(where, 'block_out_channels is empty');
  return channels.map((c) => (Number.isInteger(c / base) ? c / base : fail(where, `block_out_channels ${channels} are not multiples of the first`)));
}

/** UNet2DConditionModel (cross) or UNet2DModel config -> openaimodel UNetModel params. */
function unetConfig(where: string, c: Obj, cross: boolean): Obj {
  const blocks = (c['block_out_channels'] as number[] | undefined) ?? (cross ? [320, 640, 1280, 1280] : [224, 448, 672, 896]);
  const down =
    (c['down_block_types'] as string[] | undefined) ??
    (cross ? ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'] : ['DownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D', 'AttnDownBlock2D']);
  const up =
    (c['up_block_types'] as string[] | undefined) ??
    (cross ? ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'] : ['AttnUpBlock2D', 'AttnUpBlock2D', 'AttnUpBlock2D', 'UpBlock2D']);
  const attnDown = cross ? 'CrossAttnDownBlock2D' : 'AttnDownBlock2D';
  const attnUp = cross ? 'CrossAttnUpBlock2D' : 'AttnUpBlock2D';
  const expect = (k: string, want: unknown, dflt: unknown) => {
    const v = c[k] ?? dflt;
    if (JSON.stringify(v) !== JSON.stringify(want)) fail(where, `${k} = ${JSON.stringify(v)} is not supported (only ${JSON.stringify(want)}, as in CompVis UNets)`);
  };
  expect('flip_sin_to_cos', true, true);
  expect('freq_shift', 0, 0);
  expect('norm_num_groups', 32, 32);
  expect('norm_eps', 1e-5, 1e-5);
  expect('act_fn', 'silu', 'silu');
  expect('center_input_sample', false, false);
  expect('class_embed_type', null, null);
  if (cross) {
    expect('addition_embed_type', null, null);
    expect('mid_block_type', 'UNetMidBlock2DCrossAttn', 'UNetMidBlock2DCrossAttn');
    expect('resnet_time_scale_shift', 'default', 'default');
  } else {
    expect('time_embedding_type', 'positional', 'positional');
    expect('downsample_type', 'conv', 'conv');
    expect('upsample_type', 'conv', 'conv');
    expect('add_attention', true, true);
  }
  const attnAt: number[] = [];
  down.forEach((t, i) => {
    if (t === attnDown) attnAt.push(2 ** i);
    else if (t !== 'DownBlock2D') fail(where, `down block type ${t} is not supported`);
    const mirrored = up[down.length - 1 - i];
    if (mirrored !== (t === attnDown ? attnUp : 'UpBlock2D')) fail(where, `up_block_types do not mirror down_block_types`);
  });
  if (!cross) {
    // UNet2DModel: attention_head_dim is the head width; the time-embedding norm picks the ResBlock.
    const shift = c['resnet_time_scale_shift'] ?? 'default';
    if (shift !== 'default' && shift !== 'scale_shift') fail(where, `resnet_time_scale_shift '${String(shift)}' is not supported`);
    const nClasses = c['num_class_embeds'];
    return {
      image_size: num(c, 'sample_size', 64),
      in_channels: num(c, 'in_channels', 3),
      out_channels: num(c, 'out_channels', 3),
      model_channels: blocks[0],
      attention_resolutions: attnAt,
      num_res_blocks: num(c, 'layers_per_block', 2),
      channel_mult: multipliers(where, blocks),
      num_head_channels: num(c, 'attention_head_dim', 8),
      use_scale_shift_norm: shift === 'scale_shift',
      use_new_attention_order: true,
      ...(typeof nClasses === 'number' ? { num_classes: nClasses } : {}),
    };
  }
  const heads = c['num_attention_heads'] ?? c['attention_head_dim'] ?? 8; // diffusers: attention_head_dim is a head count here
  const depth = c['transformer_layers_per_block'] ?? 1;
  if (typeof depth !== 'number') fail(where, 'per-level transformer_layers_per_block is not supported');
  const out: Obj = {
    image_size: num(c, 'sample_size', 64),
    in_channels: num(c, 'in_channels', 4),
    out_channels: num(c, 'out_channels', 4),
    model_channels: blocks[0],
    attention_resolutions: attnAt,
    num_res_blocks: num(c, 'layers_per_block', 2),
    channel_mult: multipliers(where, blocks),
    use_spatial_transformer: true,
    transformer_depth: depth,
    context_dim: num(c, 'cross_attention_dim', 1280),
    use_linear_in_transformer: Boolean(c['use_linear_projection']),
  };
  if (typeof heads === 'number') out['num_heads'] = heads;
  else if (Array.isArray(heads)) {
    // Per-level head counts: CompVis expresses them as a fixed head width (SD 2.x: 64).
    const widths = new Set(blocks.map((b, i) => b / (heads[i] as number)));
    if (widths.size !== 1) fail(where, `per-level head counts ${JSON.stringify(heads)} do not give one head width`);
    out['num_head_channels'] = [...widths][0];
  }
  return out;
}

/** diffusers UNet2DConditionModel name -> CompVis UNetModel name. */
export function unetKeyToCompVis(key: string, layersPerBlock: number, attnUp: (i: number) => boolean): string {
  const L = layersPerBlock;
  const res = (rest: string) =>
    rest
      .replace(/^norm1\./, 'in_layers.0.')
      .replace(/^conv1\./, 'in_layers.2.')
      .replace(/^time_emb_proj\./, 'emb_layers.1.')
      .replace(/^norm2\./, 'out_layers.0.')
      .replace(/^conv2\./, 'out_layers.3.')
      .replace(/^conv_shortcut\./, 'skip_connection.');
  let m: RegExpExecArray | null;
  if ((m = /^conv_in\.(.*)$/.exec(key))) return `input_blocks.0.0.${m[1]}`;
  if ((m = /^time_embedding\.linear_([12])\.(.*)$/.exec(key))) return `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  if ((m = /^conv_norm_out\.(.*)$/.exec(key))) return `out.0.${m[1]}`;
  if ((m = /^conv_out\.(.*)$/.exec(key))) return `out.2.${m[1]}`;
  if ((m = /^down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(key)))
    return `input_blocks.${1 + Number(m[1]) * (L + 1) + Number(m[2])}.0.${res(m[3] as string)}`;
  if ((m = /^down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$/.exec(key)))
    return `input_blocks.${1 + Number(m[1]) * (L + 1) + Number(m[2])}.1.${m[3]}`;
  if ((m = /^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)$/.exec(key)))
    return `input_blocks.${(Number(m[1]) + 1) * (L + 1)}.0.op.${m[2]}`;
  if ((m = /^mid_block\.resnets\.([01])\.(.*)$/.exec(key))) return `middle_block.${m[1] === '0' ? 0 : 2}.${res(m[2] as string)}`;
  if ((m = /^mid_block\.attentions\.0\.(.*)$/.exec(key))) return `middle_block.1.${m[1]}`;
  if ((m = /^up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(key)))
    return `output_blocks.${Number(m[1]) * (L + 1) + Number(m[2])}.0.${res(m[3] as string)}`;
  if ((m = /^up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)$/.exec(key)))
    return `output_blocks.${Number(m[1]) * (L + 1) + Number(m[2])}.1.${m[3]}`;
  if ((m = /^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)$/.exec(key))) {
    const i = Number(m[1]);
    return `output_blocks.${i * (L + 1) + L}.${attnUp(i) ? 2 : 1}.conv.${m[2]}`;
  }
  throw new Error(`diffusers UNet key '${key}' has no CompVis counterpart`);
}

/** diffusers AutoencoderKL name -> CompVis AutoencoderKL name (blocks = number of levels). */
export function vaeKeyToCompVis(key: string, blocks: number): string {
  const res = (rest: string) => rest.replace(/^conv_shortcut\./, 'nin_shortcut.');
  const attn: Record<string, string> = { group_norm: 'norm', to_q: 'q', query: 'q', to_k: 'k', key: 'k', to_v: 'v', value: 'v', 'to_out.0': 'proj_out', proj_attn: 'proj_out' };
  let m: RegExpExecArray | null;
  if ((m = /^(encoder|decoder)\.conv_norm_out\.(.*)$/.exec(key))) return `${m[1]}.norm_out.${m[2]}`;
  if ((m = /^(encoder|decoder)\.mid_block\.resnets\.([01])\.(.*)$/.exec(key)))
    return `${m[1]}.mid.block_${Number(m[2]) + 1}.${res(m[3] as string)}`;
  if ((m = /^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|query|to_k|key|to_v|value|to_out\.0|proj_attn)\.(.*)$/.exec(key)))
    return `${m[1]}.mid.attn_1.${attn[m[2] as string]}.${m[3]}`;
  if ((m = /^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(key))) return `encoder.down.${m[1]}.block.${m[2]}.${res(m[3] as string)}`;
  if ((m = /^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)$/.exec(key))) return `encoder.down.${m[1]}.downsample.conv.${m[2]}`;
  if ((m = /^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$/.exec(key)))
    return `decoder.up.${blocks - 1 - Number(m[1])}.block.${m[2]}.${res(m[3] as string)}`;
  if ((m = /^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)$/.exec(key)))
    return `decoder.up.${blocks - 1 - Number(m[1])}.upsample.conv.${m[2]}`;
  if (/^((en|de)coder\.(conv_in|conv_out)|quant_conv|post_quant_conv)\./.test(key)) return key;
  throw new Error(`diffusers VAE key '${key}' has no CompVis counterpart`);
}

function vaeArchitecture(where: string, c: Obj): ArchitectureSpec {
  const blocks = (c['block_out_channels'] as number[] | undefined) ?? [64];
  const down = (c['down_block_types'] as string[] | undefined) ?? ['DownEncoderBlock2D'];
  const up = (c['up_block_types'] as string[] | undefined) ?? ['UpDecoderBlock2D'];
  if (down.some((t) => t !== 'DownEncoderBlock2D') || up.some((t) => t !== 'UpDecoderBlock2D'))
    fail(where, 'only DownEncoderBlock2D / UpDecoderBlock2D autoencoders are supported');
  if ((c['norm_num_groups'] ?? 32) !== 32) fail(where, 'norm_num_groups must be 32');
  if (c['mid_block_add_attention'] === false) fail(where, 'mid_block_add_attention false is not supported');
  const z = num(c, 'latent_channels', 4);
  return {
    type: 'autoencoder-kl',
    config: {
      embed_dim: z,
      ddconfig: {
        double_z: true,
        z_channels: z,
        resolution: num(c, 'sample_size', 32),
        in_channels: num(c, 'in_channels', 3),
        out_ch: num(c, 'out_channels', 3),
        ch: blocks[0],
        ch_mult: multipliers(where, blocks),
        num_res_blocks: num(c, 'layers_per_block', 1),
        attn_resolutions: [],
        dropout: 0.0,
      },
    },
  };
}

/**
 * UNet2DModel attention (already under CompVis block names, inner names still diffusers') ->
 * CompVis AttentionBlock: norm, one fused qkv [3C, C, 1] (q, k, v rows in turn), proj_out [C, C, 1].
 */
function fuseAttention(dir: string, tensors: TensorMap): TensorMap {
  const out: TensorMap = new Map();
  const parts = new Map<string, Partial<Record<'q' | 'k' | 'v', RawTensor>>>();
  const inner: Record<string, 'q' | 'k' | 'v'> = { to_q: 'q', query: 'q', to_k: 'k', key: 'k', to_v: 'v', value: 'v' };
  for (const [k, t] of tensors) {
    const m = /^(.*\.1|middle_block\.1)\.(group_norm|to_q|query|to_k|key|to_v|value|to_out\.0|proj_attn)\.(weight|bias)$/.exec(k);
    if (!m) {
      out.set(k, t);
      continue;
    }
    const [, block, name, kind] = m as unknown as [string, string, string, string];
    if (name === 'group_norm') out.set(`${block}.norm.${kind}`, t);
    else if (name === 'to_out.0' || name === 'proj_attn')
      out.set(`${block}.proj_out.${kind}`, kind === 'weight' ? { ...t, shape: [...t.shape.slice(0, 2), 1] } : t);
    else {
      const key = `${block}.qkv.${kind}`;
      parts.set(key, { ...parts.get(key), [inner[name] as 'q' | 'k' | 'v']: t });
    }
  }
  for (const [key, { q, k, v }] of parts) {
    if (!q || !k || !v) fail(dir, `attention ${key} lacks one of its q, k, v projections`);
    const data = new Float32Array(q.data.length * 3);
    [q, k, v].forEach((p, i) => data.set(p.data, i * q.data.length));
    const rows = 3 * (q.shape[0] as number);
    out.set(key, { dtype: q.dtype, shape: key.endsWith('weight') ? [rows, q.shape[1] as number, 1] : [rows], data });
  }
  return out;
}

/** Read a diffusers model folder (UNet2DConditionModel, UNet2DModel or AutoencoderKL) under CompVis names. */
export async function readDiffusersModel(dir: string): Promise<DiffusersModel> {
  const configFile = path.join(dir, 'config.json');
  const config = JSON.parse(await readFile(configFile, 'utf8').catch(() => fail(dir, 'no config.json (not a diffusers model folder)'))) as Obj;
  const className = String(config['_class_name'] ?? '');
  const hash = createHash('sha256');
  const raw: TensorMap = new Map();
  for (const file of await weightFiles(dir)) {
    const bytes = await readWholeFile(file);
    hash.update(bytes);
    for (const [k, t] of readSafetensorsWithMetadata(bytes, file).tensors) raw.set(k, t);
  }
  const tensors: TensorMap = new Map();
  const put = (k: string, t: RawTensor) => {
    if (tensors.has(k)) fail(dir, `two tensors map onto ${k}`);
    tensors.set(k, t);
  };
  let architecture: ArchitectureSpec;
  if (className === 'UNet2DConditionModel') {
    const params = unetConfig(configFile, config, true);
    const up = (config['up_block_types'] as string[] | undefined) ?? [];
    const L = params['num_res_blocks'] as number;
    for (const [k, t] of raw) put(unetKeyToCompVis(k, L, (i) => up[i] === 'CrossAttnUpBlock2D'), t);
    architecture = { type: 'openai-unet', config: params };
  } else if (className === 'UNet2DModel') {
    const params = unetConfig(configFile, config, false);
    const up = (config['up_block_types'] as string[] | undefined) ?? [];
    const L = params['num_res_blocks'] as number;
    const mapped: TensorMap = new Map();
    for (const [k, t] of raw) {
      const m = /^class_embedding\.(.*)$/.exec(k);
      mapped.set(m ? `label_emb.${m[1]}` : unetKeyToCompVis(k, L, (i) => up[i] === 'AttnUpBlock2D'), t);
    }
    for (const [k, t] of fuseAttention(dir, mapped)) put(k, t);
    architecture = { type: 'openai-unet', config: params };
  } else if (className === 'AutoencoderKL') {
    architecture = vaeArchitecture(configFile, config);
    const n = ((config['block_out_channels'] as number[] | undefined) ?? [64]).length;
    for (const [k, t] of raw) {
      const name = vaeKeyToCompVis(k, n);
      // diffusers' attention projections are Linear [C, C]; CompVis' are 1x1 convolutions.
      const conv = /mid\.attn_1\.(q|k|v|proj_out)\.weight$/.test(name) && t.shape.length === 2;
      put(name, conv ? { ...t, shape: [...t.shape, 1, 1] } : t);
    }
  } else return fail(configFile, `_class_name '${className}' is not supported (UNet2DConditionModel, UNet2DModel, AutoencoderKL)`);
  return { className, config, tensors, architecture, sha256: hash.digest('hex') };
}

/**
 * A diffusers folder as one CompVis-layout state_dict: a pipeline root (unet/ and vae/) gives
 * `model.diffusion_model.*` and `first_stage_model.*`; a single UNet or VAE folder gives its keys
 * with the same prefix (a lone VAE: no prefix).
 */
export async function readDiffusersFolder(dir: string): Promise<{ tensors: TensorMap; sha256: string; parts: string[] }> {
  const tensors: TensorMap = new Map();
  const hash = createHash('sha256');
  const parts: string[] = [];
  const add = (m: DiffusersModel, prefix: string) => {
    for (const [k, t] of m.tensors) tensors.set(`${prefix}${k}`, t);
    hash.update(m.sha256);
    parts.push(m.className);
  };
  if (await exists(path.join(dir, 'config.json'))) {
    const m = await readDiffusersModel(dir);
    add(m, m.className === 'AutoencoderKL' ? '' : 'model.diffusion_model.');
  } else {
    const sub = { unet: 'model.diffusion_model.', vae: 'first_stage_model.' };
    for (const [name, prefix] of Object.entries(sub))
      if (await exists(path.join(dir, name, 'config.json'))) add(await readDiffusersModel(path.join(dir, name)), prefix);
    if (!parts.length) fail(dir, 'neither a diffusers model folder (config.json) nor a pipeline folder (unet/, vae/)');
  }
  return { tensors, sha256: hash.digest('hex'), parts };
}
