/**
 * Hub repos a flow preset converts (`flow convert --preset NAME`), with what the preset reads:
 * one checkpoint file (the repo then holds gigabytes of other variants, so `flow pull` fetches
 * that file alone) or a diffusers model folder (the snapshot itself). The file entries mirror the
 * presets' published-file table (`hub` of each preset in src/models/presets.ts).
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
    repo: 'CompVis/ldm-celebahq-256',
    preset: 'celebahq-ldm-vq-4',
    include: ['model_index.json', 'scheduler/*', 'unet/*', 'vqvae/*'],
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
