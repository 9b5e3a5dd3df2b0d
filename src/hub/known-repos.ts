/**
 * Hub repos a flow preset converts (`flow convert --preset NAME`), with what the preset reads:
 * one checkpoint file, or the snapshot as a diffusers folder (a pipeline root with unet/ and vae/,
 * or one model's folder; safetensors only). These repos hold gigabytes of other variants (fp16,
 * non-EMA, .bin, text encoders), so `flow pull` fetches exactly these paths by default. The
 * single-file entries mirror the presets' published-file table (`hub` of each preset).
 */
export interface KnownRepo {
  repo: string;
  preset: string;
  /** Globs `flow pull` fetches when no --include is given. */
  include: readonly string[];
  /** 'file': the one file `include` names is the checkpoint; 'folder': the snapshot is a diffusers folder. */
  reads: 'file' | 'folder';
}

export const KNOWN_REPOS: readonly KnownRepo[] = [
  {
    repo: 'CompVis/stable-diffusion-v1-4',
    preset: 'sd-v1',
    include: [
      'unet/config.json',
      'unet/diffusion_pytorch_model.safetensors',
      'vae/config.json',
      'vae/diffusion_pytorch_model.safetensors',
    ],
    reads: 'folder',
  },
  {
    repo: 'stabilityai/sd-vae-ft-mse',
    preset: 'sd-v1-vae',
    include: ['config.json', 'diffusion_pytorch_model.safetensors'],
    reads: 'folder',
  },
  {
    repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5',
    preset: 'sd-v1',
    include: ['v1-5-pruned-emaonly.safetensors'],
    reads: 'file',
  },
  {
    repo: 'CompVis/stable-diffusion-v-1-4-original',
    preset: 'sd-v1',
    include: ['sd-v1-4.ckpt'],
    reads: 'file',
  },
  {
    repo: 'stabilityai/sd-vae-ft-mse-original',
    preset: 'sd-v1-vae',
    include: ['vae-ft-mse-840000-ema-pruned.safetensors'],
    reads: 'file',
  },
];

/** The hub treats repo ids case-insensitively, so does this look-up. */
export function knownRepo(repo: string): KnownRepo | undefined {
  const key = repo.toLowerCase();
  return KNOWN_REPOS.find((k) => k.repo.toLowerCase() === key);
}
