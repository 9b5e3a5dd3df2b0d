/**
 * Hub repos whose checkpoint a flow preset converts (`flow convert --preset NAME`), with the one
 * file of each that the preset reads, so `flow pull REPO` fetches that file alone (these repos
 * hold several gigabytes of other variants) and converts it. Mirrors the presets' published-file
 * table (`hub` entries of src/models/presets.ts on the presets branch).
 */
export interface KnownRepo {
  repo: string;
  preset: string;
  /** The checkpoint file the preset converts, a path in the repo. */
  file: string;
}

export const KNOWN_REPOS: readonly KnownRepo[] = [
  {
    repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5',
    preset: 'sd-v1',
    file: 'v1-5-pruned-emaonly.safetensors',
  },
  { repo: 'CompVis/stable-diffusion-v-1-4-original', preset: 'sd-v1', file: 'sd-v1-4.ckpt' },
  {
    repo: 'stabilityai/sd-vae-ft-mse-original',
    preset: 'sd-v1-vae',
    file: 'vae-ft-mse-840000-ema-pruned.safetensors',
  },
];

/** The hub treats repo ids case-insensitively, so does this look-up. */
export function knownRepo(repo: string): KnownRepo | undefined {
  const key = repo.toLowerCase();
  return KNOWN_REPOS.find((k) => k.repo.toLowerCase() === key);
}
