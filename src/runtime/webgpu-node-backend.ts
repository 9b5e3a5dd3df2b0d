/**
 * tfjs's WebGPU backend adapted to Node. Its synchronous read (dataSync) copies GPU buffers through
 * an OffscreenCanvas, which only browsers have; WebGPU itself can only read back asynchronously.
 * So here small tensors keep their CPU values after upload (labels, times, masks and the like,
 * which flow reads synchronously) and small ops on them stay on the CPU; a synchronous read of
 * anything else computed on the GPU fails with an error
 * that says what to do instead of "OffscreenCanvas is not defined". A tensor read once with
 * `await t.data()` stays readable synchronously (the backend caches what it read).
 */
import * as tf from '@tensorflow/tfjs';
import type { DataId, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/** Tensors up to this many elements keep a CPU copy when uploaded (at most 256 KiB each). */
export const KEEP_ON_CPU_MAX = 1 << 16;

type BackendClass = typeof WebGPUBackend;

export function nodeWebgpuBackendClass(Base: BackendClass): BackendClass {
  return class NodeWebGPUBackend extends Base {
    override uploadToGPU(dataId: DataId): void {
      const data = this.tensorMap.get(dataId);
      const keep = data.resource == null && data.values != null && data.values.length <= KEEP_ON_CPU_MAX;
      const values = data.values;
      super.uploadToGPU(dataId);
      if (keep) data.values = values;
    }

    /**
     * Small ops on tensors whose values are on the CPU run on the CPU (as the stock backend does
     * for tensors never uploaded), so label and time bookkeeping stays readable synchronously.
     */
    override shouldExecuteOnCPU(inputs: TensorInfo[], sizeThreshold?: number): boolean {
      const limit = sizeThreshold ?? tf.env().getNumber('WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD');
      return (
        tf.env().getBool('WEBGPU_CPU_FORWARD') &&
        inputs.every(
          (t) => this.tensorMap.get(t.dataId).values != null && tf.util.sizeFromShape(t.shape) < limit,
        )
      );
    }

    override readSync(dataId: DataId): ReturnType<WebGPUBackend['readSync']> {
      const data = this.tensorMap.get(dataId);
      if (data.values != null || data.dtype === 'string' || data.dtype === 'complex64') {
        return super.readSync(dataId);
      }
      throw new Error(
        `webgpu in Node cannot read a GPU tensor synchronously (shape [${data.shape.join(', ')}]): ` +
          'this code path does not support webgpu yet (it needs `await tensor.data()`, not dataSync()); ' +
          'use the wasm backend for it',
      );
    }
  };
}

let fillReplaced = false;

/**
 * tf.fill runs on the GPU whatever its size; small fills (the null class labels of classifier-free
 * guidance, for one) are made on the CPU instead, like tf.zeros and tf.tensor, so that they stay
 * readable synchronously. Idempotent.
 */
export function registerNodeWebgpuKernels(): void {
  if (fillReplaced) return;
  const stock = tf.getKernel('Fill', 'webgpu');
  if (!stock) return;
  tf.unregisterKernel('Fill', 'webgpu');
  tf.registerKernel({
    kernelName: 'Fill',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const { shape, value, dtype } = args.attrs as unknown as tf.FillAttrs;
      const size = tf.util.sizeFromShape(shape);
      if (dtype === 'string' || size > KEEP_ON_CPU_MAX) return stock.kernelFunc(args);
      const values = tf.util.getTypedArrayFromDType(dtype, size).fill(Number(value));
      return (args.backend as WebGPUBackend).makeTensorInfo(shape, dtype, values);
    },
  });
  fillReplaced = true;
}
