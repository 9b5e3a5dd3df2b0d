/**
 * `flow pull ORG/REPO[@REVISION]`: download into the model store (src/hub/), then convert with
 * the repo's preset when one applies. Prints the folder to use (the converted model folder, else
 * the snapshot) alone on stdout, so `flow run ... --set model=$(flow pull ...)` composes.
 */
import { HubClient, DEFAULT_ENDPOINT } from '../hub/hub-client.js';
import { parseRepoRef } from '../hub/repo-ref.js';
import { defaultStoreDir, ModelStore } from '../hub/store.js';
import { pull } from '../hub/pull.js';
import { knownRepo } from '../hub/known-repos.js';
import { convertAfterPull, type ConvertWithPreset } from '../hub/convert-after-pull.js';
import { PullProgress } from './pull-progress.js';

export interface PullCommandOptions {
  include: string[];
  store?: string;
  offline?: boolean;
  endpoint?: string;
  convert: boolean;
}

export async function runPull(
  target: string,
  o: PullCommandOptions,
  convertWithPreset: ConvertWithPreset | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const ref = parseRepoRef(target);
  const store = new ModelStore(o.store ?? defaultStoreDir(env));
  const offline = Boolean(o.offline) || /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
  const known = knownRepo(ref.repo);
  const include = o.include.length ? o.include : [...(known?.include ?? [])];
  if (!o.include.length && known) {
    process.stderr.write(
      `flow: ${ref.repo}: fetching ${known.include.join(' ')} (what preset ${known.preset} reads; --include '**' for all)\n`,
    );
  }
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  const client = offline
    ? undefined
    : new HubClient({ endpoint: o.endpoint ?? (env.HF_ENDPOINT || DEFAULT_ENDPOINT), token });
  const progress = new PullProgress();
  // Ctrl-C: the bytes already written stay in the store's partial file; its lock names this
  // process, so the next pull takes it over and resumes with a Range request.
  const onSigint = (): void => {
    progress.stop();
    process.stderr.write('\nflow: interrupted; the partial download is kept and the next pull resumes it\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  let pulled;
  try {
    pulled = await pull({ ref, store, include, offline, client, onEvent: (e) => progress.handle(e) });
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
  process.stderr.write(
    `flow: ${pulled.fetched} of ${pulled.files.length} files fetched; snapshot ${pulled.snapshot}\n`,
  );
  if (!o.convert) return pulled.snapshot;
  const c = await convertAfterPull(pulled, store, convertWithPreset);
  switch (c.kind) {
    case 'converted':
      process.stderr.write(
        `flow: ${c.reused ? 'already converted' : 'converted'} with preset ${c.preset}: ${c.folder}\n`,
      );
      return c.folder;
    case 'by-hand':
      process.stderr.write(`flow: preset ${c.preset} applies; convert with: ${c.command}\n`);
      return pulled.snapshot;
    case 'not-pulled':
      process.stderr.write(
        `flow: preset ${c.preset} reads ${c.missing.join(' ')}, which this pull left out; not converted\n`,
      );
      return pulled.snapshot;
    case 'no-preset':
      return pulled.snapshot;
  }
}
