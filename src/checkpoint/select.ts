/**
 * Picking the weights a network should load from a checkpoint that holds several copies: EMA vs
 * raw model weights, and prefix handling for composite checkpoints (an LDM holds the UNet under
 * `model.diffusion_model.` and the autoencoder under `first_stage_model.`).
 */
import type { TensorMap } from './types.js';

export interface SelectOptions {
  /** Which copy to return when the checkpoint has both. Default 'ema'. */
  prefer?: 'ema' | 'model';
}

export interface Selection {
  tensors: TensorMap;
  /** Which copy the returned weights are. */
  used: 'ema' | 'model';
  /** How the EMA weights are laid out in the file. */
  layout: 'compvis' | 'wrapped' | 'none';
  /** Number of tensors replaced by (or taken from) EMA copies. */
  emaTensors: number;
  /** Human-readable explanation, e.g. why EMA was not used. */
  note: string;
}

/** Prefixes under which training code commonly stores a whole EMA copy of the model. */
const EMA_WRAPPERS = ['ema.', 'ema_model.', 'model_ema.'];
const MODEL_WRAPPERS = ['model.', 'net.', 'module.', ''];

/** The keys under `prefix`, with the prefix removed (other keys dropped). */
export function stripPrefix(tensors: TensorMap, prefix: string): TensorMap {
  const out: TensorMap = new Map();
  for (const [k, v] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/** The keys not under any of `prefixes`. */
export function withoutPrefixes(tensors: TensorMap, prefixes: string[]): TensorMap {
  const out: TensorMap = new Map();
  for (const [k, v] of tensors) if (!prefixes.some((p) => k.startsWith(p))) out.set(k, v);
  return out;
}

/** True when some key starts with `prefix`. */
export function hasPrefix(tensors: TensorMap, prefix: string): boolean {
  for (const k of tensors.keys()) if (k.startsWith(prefix)) return true;
  return false;
}

/**
 * CompVis LitEma layout: `model_ema.decay`, `model_ema.num_updates` and one buffer per EMA'd
 * parameter named by the parameter's name with the dots removed. The LDM keeps an EMA of its
 * `model` (DiffusionWrapper), so `model.diffusion_model.x.0.w` has `model_ema.diffusion_modelx0w`;
 * autoencoders trained with `use_ema` keep one of themselves, so `encoder.conv_in.weight` has
 * `model_ema.encoderconv_inweight`. With prefer 'ema' every tensor with an EMA copy of the same shape
 * is replaced by it; `model_ema.*` keys are dropped either way.
 */
function selectCompVis(tensors: TensorMap, prefer: 'ema' | 'model'): Selection {
  const out: TensorMap = new Map();
  let replaced = 0;
  let kept = 0;
  for (const [k, v] of tensors) {
    if (k.startsWith('model_ema.')) continue;
    if (prefer === 'ema') {
      const candidates = k.startsWith('model.') ? [k.slice('model.'.length), k] : [k];
      const ema = candidates
        .map((c) => tensors.get(`model_ema.${c.replaceAll('.', '')}`))
        .find((t) => t !== undefined && t.shape.join() === v.shape.join());
      if (ema) {
        out.set(k, ema);
        replaced++;
        continue;
      }
      kept++;
    }
    out.set(k, v);
  }
  const note =
    prefer === 'model'
      ? 'raw model weights (EMA copies under model_ema.* dropped)'
      : `EMA weights from model_ema.* for ${replaced} tensors` +
        (kept ? `; ${kept} tensors without an EMA copy keep their raw values` : '');
  return {
    tensors: out,
    used: prefer === 'ema' && replaced > 0 ? 'ema' : 'model',
    layout: 'compvis',
    emaTensors: replaced,
    note,
  };
}

/**
 * Choose EMA or raw weights. Recognises the CompVis LDM layout (model_ema.*) and whole-copy
 * wrappers ({model, ema} / {ema_model} / EDM's {ema}); for wrappers the chosen copy is returned
 * with its wrapper prefix removed. A checkpoint without EMA is returned unchanged (used: 'model').
 */
export function selectWeights(tensors: TensorMap, options: SelectOptions = {}): Selection {
  const prefer = options.prefer ?? 'ema';
  if (tensors.has('model_ema.decay') || tensors.has('model_ema.num_updates'))
    return selectCompVis(tensors, prefer);
  const emaPrefix = EMA_WRAPPERS.find((p) => hasPrefix(tensors, p));
  if (!emaPrefix)
    return { tensors, used: 'model', layout: 'none', emaTensors: 0, note: 'no EMA weights in checkpoint' };
  const ema = stripPrefix(tensors, emaPrefix);
  const modelPrefix =
    MODEL_WRAPPERS.find((p) => p !== emaPrefix && (p === '' || hasPrefix(tensors, p))) ?? '';
  const model =
    modelPrefix === '' ? withoutPrefixes(tensors, EMA_WRAPPERS) : stripPrefix(tensors, modelPrefix);
  if (prefer === 'ema' || model.size === 0) {
    const note =
      prefer === 'ema'
        ? `EMA weights from ${emaPrefix}*`
        : `no raw model weights beside ${emaPrefix}*: using the EMA copy`;
    return { tensors: ema, used: 'ema', layout: 'wrapped', emaTensors: ema.size, note };
  }
  return {
    tensors: model,
    used: 'model',
    layout: 'wrapped',
    emaTensors: 0,
    note: `raw model weights${modelPrefix ? ` from ${modelPrefix}*` : ''} (EMA copy under ${emaPrefix}* ignored)`,
  };
}

export interface EmaPresence {
  layout: 'compvis' | 'wrapped' | 'none';
  /** Prefix the EMA copy lives under ('model_ema.', 'ema.', ...); '' when none. */
  prefix: string;
  /** Number of EMA tensors (bookkeeping like decay/num_updates included). */
  tensors: number;
}

/** Detect EMA weights from key names alone (used by inspect, before any tensor is decoded). */
export function detectEma(keys: Iterable<string>): EmaPresence {
  const list = [...keys];
  if (list.includes('model_ema.decay') || list.includes('model_ema.num_updates'))
    return {
      layout: 'compvis',
      prefix: 'model_ema.',
      tensors: list.filter((k) => k.startsWith('model_ema.')).length,
    };
  for (const p of EMA_WRAPPERS) {
    const n = list.filter((k) => k.startsWith(p)).length;
    if (n > 0) return { layout: 'wrapped', prefix: p, tensors: n };
  }
  return { layout: 'none', prefix: '', tensors: 0 };
}
