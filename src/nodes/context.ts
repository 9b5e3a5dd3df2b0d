/**
 * `context`: a cross-attention context tensor read from a file, for context-conditioned models
 * (Stable Diffusion's text embedding [77, 768] computed elsewhere). `.npy` (numpy.save) or
 * `.safetensors` (the tensor named `key`, or the only one). A plugin node can produce the same
 * port type instead. Wire it into the `model` node's `context` input.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { defineNode } from './define.js';
import { readWholeFile } from '../checkpoint/file.js';
import { readSafetensorsWithMetadata } from '../checkpoint/safetensors.js';
import { readNpy } from '../io/npy.js';
import { fileDigest } from '../io/image.js';

export interface ContextParams {
  path: string;
  key?: string;
}

async function readContext(file: string, key: string | undefined): Promise<tf.Tensor> {
  const bytes = await readWholeFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${file}: cannot read the context (${e.code ?? e.message})`);
  });
  if (file.endsWith('.npy')) {
    const a = readNpy(bytes, file);
    return tf.tensor(a.data, a.shape, 'float32');
  }
  const { tensors } = readSafetensorsWithMetadata(bytes, file);
  const names = [...tensors.keys()];
  const name = key ?? (names.length === 1 ? names[0] : undefined);
  const t = name === undefined ? undefined : tensors.get(name);
  if (!t) throw new Error(`${file}: give 'key' (one of ${names.join(', ')})`);
  return tf.tensor(Float32Array.from(t.data), t.shape, 'float32');
}

export default defineNode<ContextParams>({
  type: 'context',
  version: 1,
  category: 'model',
  description: 'Read a cross-attention context [tokens, dim] from a .npy or .safetensors file',
  inputs: {},
  outputs: { context: { type: 'context', description: 'the context tensor' } },
  params: {
    type: 'object',
    required: ['path'],
    additionalProperties: false,
    properties: {
      path: { type: 'string', minLength: 1, description: 'a .npy or .safetensors file' },
      key: { type: 'string', description: 'tensor name in a .safetensors file with several' },
    },
  },
  cache: false,
  async cacheKey(params, ctx) {
    return `${await fileDigest(path.resolve(ctx.baseDir, params.path))}:${params.key ?? ''}`;
  },
  async run(_inputs, params, ctx) {
    const context = await readContext(path.resolve(ctx.baseDir, params.path), params.key);
    if (context.shape.some((s) => s === 0) || !Array.from(context.dataSync()).every(Number.isFinite))
      throw new Error(`node '${ctx.nodeId}': ${params.path} holds an empty or non-finite context`);
    return { context };
  },
});
