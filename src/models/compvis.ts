/**
 * model.yaml from a CompVis latent-diffusion training config (the YAML that ships beside an LDM
 * checkpoint: `model.target` + `model.params` with unet_config / first_stage_config /
 * cond_stage_config). Architecture configs keep their official params, so the networks can take
 * them as they are; what CompVis leaves implicit (its beta-schedule names and defaults, the data
 * shape implied by the autoencoder's downsampling) is made explicit here.
 */
import { parse } from 'yaml';
import { ModelFolderError, parseManifest } from './folder.js';
import type { ArchitectureSpec, ConditioningSpec, ModelManifest } from './manifest.js';

type Obj = Record<string, unknown>;

export interface CompVisOptions {
  name: string;
  /** Config file name for error messages. */
  file?: string;
  description?: string;
  source?: string;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** CompVis make_beta_schedule names -> ScheduleSpec (src/schedules). */
function schedule(p: Obj, fail: (m: string) => never): NonNullable<ModelManifest['schedule']> {
  const numSteps = (p['timesteps'] as number | undefined) ?? 1000;
  const betaStart = (p['linear_start'] as number | undefined) ?? 1e-4;
  const betaEnd = (p['linear_end'] as number | undefined) ?? 2e-2;
  const name = (p['beta_schedule'] as string | undefined) ?? 'linear';
  switch (name) {
    case 'linear': // CompVis 'linear' is linear in sqrt(beta)
      return { family: 'vp-discrete', betaSchedule: 'scaled_linear', numSteps, betaStart, betaEnd };
    case 'sqrt_linear': // ... and 'sqrt_linear' is linear in beta
      return { family: 'vp-discrete', betaSchedule: 'linear', numSteps, betaStart, betaEnd };
    case 'cosine':
      return { family: 'vp-discrete', betaSchedule: 'cosine', numSteps, cosineS: (p['cosine_s'] as number | undefined) ?? 8e-3 };
    default:
      return fail(`beta_schedule '${name}' is not supported (linear, sqrt_linear, cosine)`);
  }
}

function autoencoderArchitecture(cfg: Obj, fail: (m: string) => never): ArchitectureSpec {
  const target = String(cfg['target'] ?? '');
  const params = isObj(cfg['params']) ? cfg['params'] : fail('first stage config has no params');
  const kept: Obj = {};
  // Training-only params (losses, checkpoint paths, monitors) are not part of the architecture.
  for (const k of ['embed_dim', 'n_embed', 'ddconfig', 'remap', 'sane_index_shape']) if (k in params) kept[k] = params[k];
  if (/autoencoder\.VQModel(Interface)?$/.test(target)) return { type: 'vq-model', config: kept };
  if (/autoencoder\.AutoencoderKL$/.test(target)) return { type: 'autoencoder-kl', config: kept };
  return fail(`first stage '${target}' is not supported (VQModel, VQModelInterface, AutoencoderKL)`);
}

function dataShapeOf(ae: ArchitectureSpec, latent: number, fail: (m: string) => never): [number, number, number] {
  const dd = ae.config['ddconfig'];
  if (!isObj(dd) || !Array.isArray(dd['ch_mult'])) return fail('first stage ddconfig.ch_mult is missing');
  const f = 2 ** (dd['ch_mult'].length - 1);
  const channels = (dd['out_ch'] as number | undefined) ?? 3;
  return [latent * f, latent * f, channels];
}

/**
 * The cond stage: ClassEmbedder becomes 'class-embedder' (its table is in the checkpoint); any
 * other encoder feeding cross-attention (FrozenCLIPEmbedder, ...) is out of scope here, so the
 * model takes its context as a tensor ('context', CLIP's 77 tokens by default).
 */
function conditioningOf(cond: Obj, unet: Obj, fail: (m: string) => never): ConditioningSpec {
  const target = String(cond['target']);
  const params = isObj(cond['params']) ? cond['params'] : {};
  if (/encoders\.modules\.ClassEmbedder$/.test(target)) {
    const nClasses = (params['n_classes'] as number | undefined) ?? 1000;
    const conditioning: ConditioningSpec = {
      type: 'class-embedder',
      config: { n_classes: nClasses, ...params },
      weightsPrefix: 'cond_stage_model.',
    };
    // CompVis' cin256-v2 adds one learned "no class" entry after the 1000 ImageNet classes
    // for classifier-free guidance; with n_classes 1001 that is label 1000.
    if (nClasses === 1001) conditioning.unconditionalClass = 1000;
    return conditioning;
  }
  const unetParams = isObj(unet['params']) ? unet['params'] : {};
  const contextDim = unetParams['context_dim'];
  if (typeof contextDim !== 'number') return fail(`conditioning '${target}' is not supported (ClassEmbedder, or a cross-attention UNet with context_dim)`);
  const tokens = (params['max_length'] as number | undefined) ?? 77;
  return { type: 'context', config: { context_dim: contextDim, tokens, encoder: target } };
}

/** Build (and validate) a manifest from CompVis config text. */
export function manifestFromCompVisConfig(text: string, options: CompVisOptions): ModelManifest {
  const file = options.file ?? 'config.yaml';
  const fail = (m: string): never => {
    throw new ModelFolderError(`${file}: ${m}`, file);
  };
  const doc: unknown = parse(text);
  const model = isObj(doc) && isObj(doc['model']) ? doc['model'] : fail("no 'model' section");
  const target = String(model['target'] ?? '');
  const p = isObj(model['params']) ? model['params'] : fail("no 'model.params'");
  const prediction = ((p['parameterization'] as string | undefined) ?? 'eps') as 'eps' | 'x0' | 'v';
  const common = {
    name: options.name,
    ...(options.description ? { description: options.description } : {}),
    ...(options.source ? { source: options.source } : {}),
  };
  let manifest: ModelManifest;
  if (/ddpm\.(LatentDiffusion|DDPM)$/.test(target)) {
    const unet = isObj(p['unet_config']) ? p['unet_config'] : fail("no 'unet_config'");
    if (!/openaimodel\.UNetModel$/.test(String(unet['target'])))
      fail(`UNet '${String(unet['target'])}' is not supported (openaimodel.UNetModel)`);
    const size = (p['image_size'] as number | undefined) ?? 256;
    const channels = (p['channels'] as number | undefined) ?? 3;
    manifest = {
      ...common,
      kind: target.endsWith('LatentDiffusion') ? 'ldm' : 'pixel-diffusion',
      architecture: { type: 'openai-unet', config: { ...(unet['params'] as Obj) } },
      weightsPrefix: 'model.diffusion_model.',
      schedule: schedule(p, fail),
      prediction,
      dataShape: [size, size, channels],
    };
    if (manifest.kind === 'ldm') {
      const ae = autoencoderArchitecture(isObj(p['first_stage_config']) ? p['first_stage_config'] : fail("no 'first_stage_config'"), fail);
      manifest.autoencoder = { architecture: ae, scaleFactor: (p['scale_factor'] as number | undefined) ?? 1, weightsPrefix: 'first_stage_model.' };
      manifest.latentShape = [size, size, channels];
      manifest.dataShape = dataShapeOf(ae, size, fail);
      const cond = p['cond_stage_config'];
      if (isObj(cond)) {
        manifest.conditioning = conditioningOf(cond, unet, fail);
        if (manifest.conditioning.type === 'class-embedder') {
          const nClasses = manifest.conditioning.config?.['n_classes'] as number;
          manifest.classes = { count: nClasses === 1001 ? 1000 : nClasses };
        }
      }
    }
  } else if (/autoencoder\.(VQModel|VQModelInterface|AutoencoderKL)$/.test(target)) {
    const ae = autoencoderArchitecture(model, fail);
    const dd = ae.config['ddconfig'] as Obj;
    const res = (dd['resolution'] as number | undefined) ?? 256;
    const f = 2 ** ((dd['ch_mult'] as unknown[]).length - 1);
    const z = (ae.config['embed_dim'] as number | undefined) ?? (dd['z_channels'] as number);
    manifest = {
      ...common,
      kind: 'autoencoder',
      architecture: ae,
      dataShape: [res, res, (dd['out_ch'] as number | undefined) ?? 3],
      latentShape: [res / f, res / f, z],
    };
  } else return fail(`model target '${target}' is not supported`);
  // Validate exactly as a model folder would be.
  parseManifest(JSON.stringify(manifest), `${file} (converted)`);
  return manifest;
}
