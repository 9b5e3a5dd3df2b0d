/**
 * Cross-attention conditioning of OpenAI/CompVis UNets (src/networks/spatial-transformer.ts):
 * - 'class-embedder' (cin256-v2): the context of label y is row y of CompVis ClassEmbedder's table
 *   (`cond_stage_model.embedding.weight`, [n_classes, embed_dim]) as one token [B, 1, embed_dim];
 *   the null class for guidance is `unconditionalClass` (cin256-v2: 1000, its 1001st row).
 * - 'context' (Stable Diffusion): the context [tokens, context_dim] is given when the prior is made
 *   (a file or a plugin computes it; flow has no text encoder). The denoiser then sees a
 *   two-"class" model, label 0 = that context and label 1 = the null context (zeros unless given),
 *   so classifier-free guidance works unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import type { OpenAIUNet } from '../networks/unet-openai.js';
import type { RawNetwork } from '../networks/denoiser.js';
import { conditioningTensors, type ModelFolder } from './folder.js';

/** The bound [conditional, null] contexts of a 'context' model, [2, tokens, context_dim]. */
export interface ContextSlot {
  table: tf.Tensor3D | undefined;
}

function contextDim(unet: OpenAIUNet, name: string): number {
  const d = unet.config.context_dim;
  if (typeof d !== 'number') throw new Error(`model '${name}': conditioning needs a UNet with context_dim`);
  return d;
}

export function crossAttentionNet(folder: ModelFolder, unet: OpenAIUNet, slot: ContextSlot): { net: RawNetwork; dispose: () => void } {
  const m = folder.manifest;
  const dim = contextDim(unet, m.name);
  if (m.conditioning?.type === 'context') {
    const net: RawNetwork = (z, t, labels) =>
      tf.tidy(() => {
        if (!slot.table) throw new Error(`model '${m.name}' needs a context [tokens, ${dim}] (wire one to the model)`);
        const l = labels ?? tf.zeros([z.shape[0]], 'int32');
        return unet.forward(z, t, undefined, tf.gather(slot.table, tf.cast(l, 'int32')) as tf.Tensor3D);
      });
    return { net, dispose: () => unet.dispose() };
  }
  const raw = conditioningTensors(folder).get('embedding.weight');
  const n = Number(m.conditioning?.config?.['n_classes']);
  if (!raw || raw.shape.length !== 2 || raw.shape[0] !== n || raw.shape[1] !== dim) {
    unet.dispose();
    throw new Error(
      `class embedder: expected ${m.conditioning?.weightsPrefix ?? ''}embedding.weight of shape [${n}, ${dim}], got ${raw ? JSON.stringify(raw.shape) : 'none'}`,
    );
  }
  const nullClass = m.conditioning?.unconditionalClass;
  if (nullClass !== undefined && nullClass !== m.classes?.count) {
    unet.dispose();
    throw new Error(`unconditionalClass ${nullClass} must equal classes.count ${m.classes?.count} (the null label)`);
  }
  const table = tf.tensor2d(Float32Array.from(raw.data), [n, dim]);
  const net: RawNetwork = (z, t, labels) =>
    tf.tidy(() => {
      if (!labels && nullClass === undefined) throw new Error(`model '${m.name}' needs a class label (it has no null class)`);
      const l = labels ? tf.cast(labels, 'int32') : tf.fill([z.shape[0]], nullClass as number, 'int32');
      const bad = Array.from(l.dataSync()).find((v) => v < 0 || v >= n);
      if (bad !== undefined) throw new Error(`model '${m.name}': class label ${bad} outside [0, ${n})`);
      const context = tf.expandDims(tf.gather(table, l), 1) as tf.Tensor3D;
      return unet.forward(z, t, undefined, context);
    });
  return {
    net,
    dispose: () => {
      table.dispose();
      unet.dispose();
    },
  };
}

/** Bind the prior's context (and null context) into the slot, checking the shape against the UNet. */
export function bindContext(folder: ModelFolder, slot: ContextSlot, options: { context?: tf.Tensor; unconditionalContext?: tf.Tensor }): void {
  const m = folder.manifest;
  const dim = Number(m.conditioning?.config?.['context_dim']);
  const asTokens = (t: tf.Tensor, what: string): tf.Tensor2D => {
    const shape = t.rank === 3 && t.shape[0] === 1 ? t.shape.slice(1) : t.shape;
    if (shape.length !== 2 || shape[1] !== dim)
      throw new Error(`model '${m.name}': ${what} must be [tokens, ${dim}], got ${JSON.stringify(t.shape)}`);
    return tf.reshape(t, [shape[0] as number, dim]) as tf.Tensor2D;
  };
  if (!options.context) throw new Error(`model '${m.name}' needs a context [tokens, ${dim}] (wire one to the model)`);
  const table = tf.tidy(() => {
    const c = asTokens(options.context as tf.Tensor, 'the context');
    const u = options.unconditionalContext ? asTokens(options.unconditionalContext, 'the unconditional context') : tf.zerosLike(c);
    if (u.shape[0] !== c.shape[0]) throw new Error(`model '${m.name}': the unconditional context has ${u.shape[0]} tokens, the context ${c.shape[0]}`);
    return tf.stack([c, u]) as tf.Tensor3D;
  });
  slot.table?.dispose();
  slot.table = table;
}
