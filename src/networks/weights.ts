/**
 * Named parameters for a network, checked against what the architecture asks for. Networks take
 * their parameters by the official PyTorch state_dict names and shapes; layout conversion
 * (PyTorch OIHW convolution kernels to tfjs HWIO, Linear [out, in] to [in, out]) happens here,
 * once, at load time. After building, `finish()` reports every missing, mis-shaped and unexpected
 * key in one error, so a user sees the whole mismatch at once.
 */
import * as tf from '@tensorflow/tfjs';
import type { RawTensor, TensorMap } from '../checkpoint/types.js';

export class WeightError extends Error {
  constructor(
    message: string,
    readonly missing: string[],
    readonly misshaped: string[],
    readonly unexpected: string[],
  ) {
    super(message);
    this.name = 'WeightError';
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Default limit for WeightStore's 'auto' flipped-kernel cache: 256 MiB of float32 parameters
 * (67 M). Under it the cache (plus XNNPACK's packed copy of each cached kernel) costs at most
 * ~0.5 GiB of the 4 GiB wasm heap; above it a model like the LDM UNet would not fit its gradient.
 */
export const FLIP_CACHE_MAX_PARAM_BYTES = 256 * 2 ** 20;

export class WeightStore {
  private readonly used = new Set<string>();
  private readonly missing: string[] = [];
  private readonly misshaped: string[] = [];
  private readonly created: tf.Tensor[] = [];
  /**
   * Whether blocks may cache derived copies of parameters for gradients (Conv2d's flipped kernels):
   * faster repeated input gradients, at the cost of a second copy of the conv weights (and, on
   * wasm, of XNNPACK's packed copy of it). 'auto' (the default) caches while the parameters taken
   * from the checkpoint total at most `flipCacheMaxParamBytes`: small networks keep the speed,
   * LDM-size ones (the 1.1 GiB LSUN-Church UNet) keep memory, since with the cache their input
   * gradient does not fit in the 4 GiB wasm heap (bench/README.md, UNet section).
   */
  cacheFlippedKernels: boolean | 'auto' = 'auto';
  /** The parameter size up to which 'auto' caches flipped kernels. */
  flipCacheMaxParamBytes = FLIP_CACHE_MAX_PARAM_BYTES;
  private paramBytesTaken = 0;

  /** `ignore` lists key patterns that may be present without being used (e.g. EMA bookkeeping). */
  constructor(
    private readonly tensors: TensorMap,
    private readonly ignore: RegExp[] = [],
  ) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Raw access (shape-checked), in the checkpoint's own layout. */
  raw(name: string, shape: readonly number[]): tf.Tensor | undefined {
    const t = this.tensors.get(name);
    if (!t) {
      this.missing.push(`${name} ${JSON.stringify(shape)}`);
      return undefined;
    }
    this.used.add(name);
    if (!sameShape(t.shape, shape)) {
      this.misshaped.push(
        `${name}: checkpoint ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)}`,
      );
      return undefined;
    }
    const out = tf.tensor(toFloat(t), [...shape], 'float32');
    this.created.push(out);
    this.paramBytesTaken += 4 * out.size;
    return out;
  }

  /** Bytes (float32) of the parameters taken from the checkpoint so far. */
  get paramBytes(): number {
    return this.paramBytesTaken;
  }

  /** Whether flipped kernels are cached now (cacheFlippedKernels, 'auto' resolved by paramBytes). */
  cachesFlippedKernels(): boolean {
    const c = this.cacheFlippedKernels;
    return c === 'auto' ? this.paramBytesTaken <= this.flipCacheMaxParamBytes : c;
  }

  /** A parameter kept in its checkpoint layout (biases, norms, embeddings). Placeholder zeros when absent. */
  take(name: string, shape: readonly number[]): tf.Tensor {
    return this.raw(name, shape) ?? this.placeholder(shape);
  }

  /** A Conv2d weight: checkpoint [out, in, kh, kw] -> tfjs filter [kh, kw, in, out]. */
  conv2d(name: string, outCh: number, inCh: number, kh: number, kw: number): tf.Tensor4D {
    const t = this.raw(name, [outCh, inCh, kh, kw]);
    if (!t) return this.placeholder([kh, kw, inCh, outCh]) as tf.Tensor4D;
    return this.relayout(t, () => tf.transpose(t, [2, 3, 1, 0]) as tf.Tensor4D);
  }

  /** A Linear weight: checkpoint [out, in] -> [in, out] for x @ W. Also accepts 1x1 conv weights [out, in, 1, 1]. */
  linear(name: string, outF: number, inF: number, asConv1x1 = false): tf.Tensor2D {
    const t = this.raw(name, asConv1x1 ? [outF, inF, 1, 1] : [outF, inF]);
    if (!t) return this.placeholder([inF, outF]) as tf.Tensor2D;
    return this.relayout(t, () => tf.transpose(tf.reshape(t, [outF, inF])) as tf.Tensor2D);
  }

  /** Throw one error naming every missing, mis-shaped and unexpected key; free the checkpoint-layout copies. */
  finish(what: string): void {
    const unexpected = [...this.tensors.keys()].filter(
      (k) => !this.used.has(k) && !this.ignore.some((re) => re.test(k)),
    );
    if (this.missing.length || this.misshaped.length || unexpected.length) {
      const parts: string[] = [];
      if (this.missing.length) parts.push(`missing keys: ${this.missing.join(', ')}`);
      if (this.misshaped.length) parts.push(`mis-shaped keys: ${this.misshaped.join('; ')}`);
      if (unexpected.length) parts.push(`unexpected keys: ${unexpected.join(', ')}`);
      throw new WeightError(
        `${what}: checkpoint does not match the architecture (${parts.join(' | ')})`,
        this.missing,
        this.misshaped,
        unexpected,
      );
    }
  }

  /** Hand a tensor derived from the parameters (e.g. a cached flipped kernel) to the store, which will dispose it. */
  adopt<T extends tf.Tensor>(t: T): T {
    this.created.push(tf.keep(t));
    return t;
  }

  /** Number of tensors this store currently owns. */
  get tensorCount(): number {
    return this.created.length;
  }

  /** Free every tensor handed out by this store (and so every block built from it). Idempotent. */
  dispose(): void {
    for (const t of this.created) t.dispose();
    this.created.length = 0;
  }

  /** Replace a checkpoint-layout copy by its converted layout, freeing the copy at once. */
  private relayout<T extends tf.Tensor>(src: tf.Tensor, convert: () => T): T {
    const out = tf.tidy(convert);
    const i = this.created.lastIndexOf(src);
    if (i >= 0) this.created.splice(i, 1);
    src.dispose();
    this.created.push(out);
    return out;
  }

  private placeholder(shape: readonly number[]): tf.Tensor {
    const z = tf.zeros([...shape]);
    this.created.push(z);
    return z;
  }
}

/**
 * Build a network straight from a checkpoint: `build` constructs it from a fresh store, then every
 * missing / mis-shaped / unexpected key is reported in one WeightError (and the partly built
 * network's tensors are freed). The returned store owns the parameters: `store.dispose()` frees them.
 */
export function buildFromCheckpoint<T>(
  what: string,
  tensors: TensorMap,
  build: (store: WeightStore) => T,
  ignore: RegExp[] = [],
): { net: T; store: WeightStore } {
  const store = new WeightStore(tensors, ignore);
  try {
    const net = build(store);
    store.finish(what);
    return { net, store };
  } catch (e) {
    store.dispose();
    throw e;
  }
}

function toFloat(t: RawTensor): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}
