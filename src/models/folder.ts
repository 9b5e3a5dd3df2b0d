/**
 * Model folders: `<dir>/model.yaml` (see manifest.ts) plus safetensors weights. Loading validates
 * the manifest with errors pointing at the YAML line and column, reads the weights, checks that the
 * declared prefixes exist, and computes a content digest for caching and run records. Writing is
 * atomic: everything goes to a temporary sibling directory that is renamed into place.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readWholeFile } from '../checkpoint/file.js';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, isMap, isScalar, parseDocument, stringify, type Document } from 'yaml';
import { readSafetensorsWithMetadata, writeSafetensors } from '../checkpoint/safetensors.js';
import { hasPrefix, stripPrefix } from '../checkpoint/select.js';
import type { TensorMap } from '../checkpoint/types.js';
import { DEFAULT_WEIGHTS_FILE, modelManifestSchema, withDefaults, type ModelManifest } from './manifest.js';
import { digestMismatch, nonFiniteWeight, sha256Hex } from './weights-check.js';

export const MANIFEST_FILE = 'model.yaml';

export class ModelFolderError extends Error {
  constructor(
    message: string,
    /** The file at fault. */
    readonly file: string,
    /** 1-based position in `file`, for manifest errors. */
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
    this.name = 'ModelFolderError';
  }
}

export interface ModelFolder {
  dir: string;
  /** The manifest with defaults applied (weights, weightsPrefix, preconditioning, dataRange). */
  manifest: ModelManifest;
  /** Everything in the main weights file. */
  tensors: TensorMap;
  /** The autoencoder's separate weights file, when `autoencoder.weights` names one. */
  autoencoderTensors?: TensorMap;
  /** safetensors `__metadata__` of the main weights file. */
  metadata: Record<string, string>;
  /** sha256 (hex) over model.yaml and every weights file, byte for byte. */
  digest: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile<ModelManifest>(modelManifestSchema);

type YamlPath = Array<string | number>;

function pathOf(instancePath: string): YamlPath {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function message(e: ErrorObject): { text: string; path: YamlPath; atKey: boolean } {
  const p = pathOf(e.instancePath);
  const where = p.length ? `'${p.join('.')}'` : 'model.yaml';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return { text: `unknown key '${String(params['additionalProperty'])}' in ${where}`, path: [...p, String(params['additionalProperty'])], atKey: true };
    case 'required':
      return { text: `${where} is missing required key '${String(params['missingProperty'])}'`, path: p, atKey: false };
    case 'enum':
      return {
        text: `${where} must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
        path: p,
        atKey: false,
      };
    default:
      return { text: `${where} ${e.message ?? 'is invalid'}`, path: p, atKey: false };
  }
}

/** 1-based line/column of the value (or key) at `p`, falling back to the nearest existing parent. */
function locate(doc: Document, lc: LineCounter, p: YamlPath, atKey: boolean): { line: number; col: number } {
  for (let n = p.length; n >= 0; n--) {
    const sub = p.slice(0, n);
    if (atKey && n === p.length && n > 0) {
      const parent = doc.getIn(sub.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === sub[sub.length - 1]);
        if (pair && isScalar(pair.key) && pair.key.range) return lc.linePos(pair.key.range[0]);
      }
      continue;
    }
    const node = sub.length === 0 ? doc.contents : doc.getIn(sub, true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return lc.linePos(range[0]);
  }
  return { line: 1, col: 1 };
}

/**
 * Parse and validate model.yaml text. Throws ModelFolderError naming `file` with the line and
 * column of the first problem; every schema problem is listed in the message.
 */
export function parseManifest(text: string, file: string): ModelManifest {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = lc.linePos(yamlError.pos[0]);
    throw new ModelFolderError(`${file}:${pos.line}:${pos.col}: YAML error: ${yamlError.message}`, file, pos.line, pos.col);
  }
  const value: unknown = doc.toJS();
  const fail = (text: string, p: YamlPath, atKey = false): never => {
    const pos = locate(doc, lc, p, atKey);
    throw new ModelFolderError(`${file}:${pos.line}:${pos.col}: ${text}`, file, pos.line, pos.col);
  };
  if (!validate(value)) {
    const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if').map(message);
    const first = errors[0] ?? { text: 'invalid model.yaml', path: [], atKey: false };
    const rest = errors.slice(1).map((e) => {
      const pos = locate(doc, lc, e.path, e.atKey);
      return `\n  ${file}:${pos.line}:${pos.col}: ${e.text}`;
    });
    return fail(first.text + rest.join(''), first.path, first.atKey);
  }
  const m = value;
  if (m.classes?.names && m.classes.names.length !== m.classes.count)
    fail(`classes.names has ${m.classes.names.length} entries but classes.count is ${m.classes.count}`, ['classes', 'names']);
  if (m.kind === 'ldm' && m.architecture.type.startsWith('autoencoder'))
    fail(`an ldm's architecture is its diffusion network, not '${m.architecture.type}'`, ['architecture', 'type']);
  if (m.autoencoder && !['autoencoder-kl', 'vq-model'].includes(m.autoencoder.architecture.type))
    fail(`autoencoder.architecture.type must be 'autoencoder-kl' or 'vq-model'`, ['autoencoder', 'architecture', 'type']);
  if (m.autoencoder && !m.autoencoder.weights && !m.autoencoder.weightsPrefix && !m.weightsPrefix)
    fail('the autoencoder shares the weights file with the network: give one of them a weightsPrefix', ['autoencoder']);
  if (m.likelihoodScale && m.kind !== 'ldm' && m.kind !== 'pixel-diffusion')
    fail(`likelihoodScale belongs to diffusion priors, not to a ${m.kind}`, ['likelihoodScale'], true);
  if (m.likelihoodScale && !Number.isFinite(m.likelihoodScale.b))
    fail(`likelihoodScale.b must be a finite number > 0, got ${m.likelihoodScale.b}`, ['likelihoodScale', 'b']);
  if (m.dataRange && !(m.dataRange[0] < m.dataRange[1])) fail('dataRange must be [low, high] with low < high', ['dataRange']);
  return m;
}

async function readOrFail(file: string, what: string): Promise<Uint8Array> {
  try {
    return await readWholeFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelFolderError(`${file}: cannot read ${what}${code === 'ENOENT' ? ' (file not found)' : ` (${(e as Error).message})`}`, file);
  }
}

/** sha256 over named byte blobs, each framed by its name and length so the digest is unambiguous. */
function folderDigest(parts: Array<[string, Uint8Array]>): string {
  const h = createHash('sha256');
  h.update('flow-model-folder-v1\0');
  for (const [name, bytes] of parts) {
    h.update(`${name}\0${bytes.length}\0`);
    h.update(bytes);
  }
  return h.digest('hex');
}

/** Load `<dir>/model.yaml` and its weights. */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const yamlBytes = await readOrFail(manifestFile, 'the model manifest');
  const manifest = withDefaults(parseManifest(new TextDecoder().decode(yamlBytes), manifestFile));
  const weightsName = manifest.weights ?? DEFAULT_WEIGHTS_FILE;
  const weightsFile = path.join(dir, weightsName);
  const weightBytes = await readOrFail(weightsFile, 'the weights');
  const check = (problem: string | undefined, file: string): void => {
    if (problem) throw new ModelFolderError(problem, file);
  };
  check(digestMismatch(weightsFile, weightBytes, manifest.sha256?.[weightsName], manifestFile), weightsFile);
  const { tensors, metadata } = readSafetensorsWithMetadata(weightBytes, weightsFile);
  check(nonFiniteWeight(tensors, weightsFile), weightsFile);
  const digestParts: Array<[string, Uint8Array]> = [
    [MANIFEST_FILE, yamlBytes],
    [weightsName, weightBytes],
  ];
  const checkPrefix = (t: TensorMap, prefix: string | undefined, file: string, what: string) => {
    if (prefix && !hasPrefix(t, prefix))
      throw new ModelFolderError(`${file}: no tensor starts with the ${what} weightsPrefix '${prefix}' declared in ${manifestFile}`, file);
  };
  checkPrefix(tensors, manifest.weightsPrefix, weightsFile, 'network');
  let autoencoderTensors: TensorMap | undefined;
  const ae = manifest.autoencoder;
  if (ae?.weights) {
    const aeFile = path.join(dir, ae.weights);
    const aeBytes = await readOrFail(aeFile, 'the autoencoder weights');
    check(digestMismatch(aeFile, aeBytes, manifest.sha256?.[ae.weights], manifestFile), aeFile);
    autoencoderTensors = readSafetensorsWithMetadata(aeBytes, aeFile).tensors;
    check(nonFiniteWeight(autoencoderTensors, aeFile), aeFile);
    digestParts.push([ae.weights, aeBytes]);
    checkPrefix(autoencoderTensors, ae.weightsPrefix, aeFile, 'autoencoder');
  } else if (ae) checkPrefix(tensors, ae.weightsPrefix, weightsFile, 'autoencoder');
  checkPrefix(tensors, manifest.conditioning?.weightsPrefix, weightsFile, 'conditioning');
  return {
    dir,
    manifest,
    tensors,
    ...(autoencoderTensors ? { autoencoderTensors } : {}),
    metadata,
    digest: folderDigest(digestParts),
  };
}

/** The network's own tensors, under the names its architecture expects (weightsPrefix removed). */
export function networkTensors(folder: ModelFolder): TensorMap {
  const prefix = folder.manifest.weightsPrefix ?? '';
  return prefix ? stripPrefix(folder.tensors, prefix) : folder.tensors;
}

/** The class embedder's tensors (weightsPrefix removed); empty when the model has none. */
export function conditioningTensors(folder: ModelFolder): TensorMap {
  const prefix = folder.manifest.conditioning?.weightsPrefix;
  return prefix ? stripPrefix(folder.tensors, prefix) : new Map();
}

/** The autoencoder's tensors (weightsPrefix removed); throws when the model has no autoencoder. */
export function autoencoderTensors(folder: ModelFolder): TensorMap {
  const ae = folder.manifest.autoencoder;
  if (!ae) throw new ModelFolderError(`${folder.dir}: model '${folder.manifest.name}' has no autoencoder`, path.join(folder.dir, MANIFEST_FILE));
  const source = folder.autoencoderTensors ?? folder.tensors;
  return ae.weightsPrefix ? stripPrefix(source, ae.weightsPrefix) : source;
}

export interface WriteModelOptions {
  /** safetensors `__metadata__` for the main weights file. */
  metadata?: Record<string, string>;
  /** Tensors for `manifest.autoencoder.weights`, when the autoencoder has its own file. */
  autoencoderTensors?: TensorMap;
  /** Replace an existing folder (default false: refuse). */
  overwrite?: boolean;
}

/**
 * Write a model folder atomically: the manifest is validated first, files go to a temporary
 * sibling directory, which is then renamed onto `dir` (an existing folder is replaced only with
 * `overwrite`, and only after the new one is complete).
 */
export async function writeModelFolder(dir: string, given: ModelManifest, tensors: TensorMap, options: WriteModelOptions = {}): Promise<void> {
  const ae = given.autoencoder;
  const weightsBytes = writeSafetensors(tensors, options.metadata);
  const aeBytes = ae?.weights && options.autoencoderTensors ? writeSafetensors(options.autoencoderTensors) : undefined;
  const sha256: Record<string, string> = { [given.weights ?? DEFAULT_WEIGHTS_FILE]: sha256Hex(weightsBytes) };
  if (ae?.weights && aeBytes) sha256[ae.weights] = sha256Hex(aeBytes);
  const manifest: ModelManifest = { ...given, sha256 };
  const text = `# flow model folder manifest (see src/models/manifest.ts)\n${stringify(manifest, { lineWidth: 0 })}`;
  parseManifest(text, path.join(dir, MANIFEST_FILE));
  if (ae?.weights && !options.autoencoderTensors)
    throw new ModelFolderError(`${dir}: manifest names autoencoder weights '${ae.weights}' but no autoencoder tensors were given`, path.join(dir, MANIFEST_FILE));
  const exists = await stat(dir).then(
    () => true,
    () => false,
  );
  if (exists && !options.overwrite) throw new ModelFolderError(`${dir}: already exists (pass overwrite to replace it)`, dir);
  const parent = path.dirname(path.resolve(dir));
  await mkdir(parent, { recursive: true });
  const unique = `${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${unique}`);
  await mkdir(tmp);
  try {
    await writeFile(path.join(tmp, MANIFEST_FILE), text);
    await writeFile(path.join(tmp, manifest.weights ?? DEFAULT_WEIGHTS_FILE), weightsBytes);
    if (ae?.weights && aeBytes) await writeFile(path.join(tmp, ae.weights), aeBytes);
    if (exists) {
      const old = path.join(parent, `.${path.basename(dir)}.old-${unique}`);
      await rename(dir, old);
      await rename(tmp, dir);
      await rm(old, { recursive: true, force: true });
    } else await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
