/**
 * `model`: load a model folder (model.yaml + safetensors weights) into networks. Its outputs are
 * not cached (networks are not data), but its cache key is the folder's content digest, so every
 * downstream stage is keyed on the exact weights it used.
 */
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { defineNode } from './define.js';
import { loadModelFolder, type ModelFolder } from '../models/folder.js';
import type * as tf from '@tensorflow/tfjs';
import { buildModel, type LoadedModel } from '../models/build.js';

export interface ModelParams {
  path: string;
}

// Folders read for their digest are kept (by path and mtime) so `run` does not read them twice.
const folders = new Map<string, { stamp: string; folder: Promise<ModelFolder> }>();

async function readFolder(dir: string): Promise<ModelFolder> {
  const st = await stat(path.join(dir, 'model.yaml')).catch(() => {
    throw new Error(`model folder '${dir}' has no model.yaml`);
  });
  const stamp = `${st.mtimeMs}:${st.size}`;
  const hit = folders.get(dir);
  if (hit && hit.stamp === stamp) return hit.folder;
  const folder = loadModelFolder(dir);
  folders.set(dir, { stamp, folder });
  folder.catch(() => folders.delete(dir));
  return folder;
}

export default defineNode<ModelParams>({
  type: 'model',
  version: 1,
  category: 'model',
  description:
    'Load a model folder (diffusion prior, autoencoder or classifier) from model.yaml and its weights',
  inputs: {
    context: {
      type: 'context',
      optional: true,
      description: 'cross-attention context for context-conditioned models (conditioning: context)',
    },
  },
  outputs: { model: { type: 'model', description: 'the loaded networks (prior, autoencoder, ...)' } },
  params: {
    type: 'object',
    required: ['path'],
    properties: {
      path: {
        type: 'string',
        minLength: 1,
        description: "Model folder, e.g. '${models.ldm}' or ../models/fashion-ldm",
      },
    },
  },
  cache: false,
  async cacheKey(params, ctx) {
    return (await readFolder(path.resolve(ctx.baseDir, params.path))).digest;
  },
  async run(inputs, params, ctx) {
    const dir = path.resolve(ctx.baseDir, params.path);
    const folder = await readFolder(dir);
    ctx.log(`loaded ${folder.manifest.kind} '${folder.manifest.name}' (${folder.digest.slice(0, 12)})`);
    const model = buildModel(folder);
    const context = inputs.context as tf.Tensor | undefined;
    if (context === undefined) return { model };
    if (folder.manifest.conditioning?.type !== 'context') {
      model.dispose();
      throw new Error(`node '${ctx.nodeId}': a context is wired but model '${model.name}' does not take one`);
    }
    // Every prior of this model uses the wired context unless a caller gives its own.
    const withContext: LoadedModel = { ...model, prior: (o = {}) => model.prior({ context, ...o }) };
    return { model: withContext };
  },
});
