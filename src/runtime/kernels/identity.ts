/**
 * Identity for wasm that shares the input's buffer instead of copying it, as the cpu backend's
 * Identity and the wasm Reshape do (reference counted; no wasm kernel writes into its inputs).
 * tfjs clones every tensor a gradient saves (engine.saveTensorsForBackwardMode, customGrad's save),
 * and the stock wasm Identity copies: 1,000-1,300 copies per input-gradient call of the embedded
 * LDM, each a full activation map. Strings go to the stock kernel.
 */
import type * as tf from '@tensorflow/tfjs';

interface SharingBackend {
  incRef(dataId: tf.DataId): void;
}

function canShare(backend: unknown): backend is SharingBackend {
  return typeof (backend as Partial<SharingBackend> | null)?.incRef === 'function';
}

export function makeIdentityKernel(stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const x = args.inputs['x'] as tf.TensorInfo;
    if (x.dtype === 'string' || !canShare(args.backend)) {
      if (stock === undefined) throw new Error('Identity: unsupported input');
      return stock(args);
    }
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
