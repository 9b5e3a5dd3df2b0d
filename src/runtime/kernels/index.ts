/**
 * Replacement and missing gradient kernels for the tfjs wasm backend.
 *
 * Why kernels and not gradient overrides (tf.registerGradient): gradient functions are global,
 * shared by every backend, whereas a kernel is registered for 'wasm' only. Replacing the kernels
 * fixes every route to them at once: tf.grad through tf.conv2d, conv2dTranspose, fusedConv2d's
 * gradient and tf.layers, with the cpu (reference) backend untouched. A kernel may run other tfjs
 * ops: the engine does not record ops on the gradient tape while a kernel runs, and a returned
 * Tensor is used as the kernel's output as is.
 */
import * as tf from '@tensorflow/tfjs';
import { makeConv2DBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { makeConv2DBackpropInputKernel } from './conv2d-backprop-input.js';
import {
  makeDepthwiseBackpropFilterKernel,
  makeDepthwiseBackpropInputKernel,
} from './depthwise-conv2d-backprop.js';
import { ATTENTION, ATTENTION_GRAD, registerAttentionKernels } from './attention.js';
import { makeIdentityKernel } from './identity.js';
import { GROUP_NORM, GROUP_NORM_GRAD, registerGroupNormKernels } from './group-norm.js';
import { makeMaxPoolGradKernel } from './max-pool-grad.js';
import { makeReverseKernel } from './reverse.js';
import { makeSliceKernel } from './slice.js';
import { makeUnpackKernel } from './unpack.js';

const BACKEND = 'wasm';

/** The kernels registered before ours, kept for fallbacks and for benchmarking the stock code. */
const stockKernels = new Map<string, tf.KernelConfig | undefined>();
/** Stock kernels whose setupFunc has run (it binds their wasm exports). */
const stockReady = new Set<string>();
let registered = false;

/**
 * A stock kernel's function, made safe to call: when registerWasmKernels() runs before the wasm
 * backend initialises (as initBackend does), tfjs never calls the replaced kernel's setupFunc,
 * so it is called here on first use.
 */
function readyStock(kernelName: string, stock: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    if (!stockReady.has(kernelName)) {
      stock.setupFunc?.(args.backend);
      stockReady.add(kernelName);
    }
    return stock.kernelFunc(args);
  };
}

function replace(kernelName: string, make: (stock: tf.KernelFunc | undefined) => tf.KernelFunc): void {
  const stock = tf.getKernel(kernelName, BACKEND);
  stockKernels.set(kernelName, stock);
  if (stock !== undefined) tf.unregisterKernel(kernelName, BACKEND);
  const fallback = stock === undefined ? undefined : readyStock(kernelName, stock);
  tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: make(fallback) });
}

/** Names of the kernels registerWasmKernels() installs. */
export const WASM_KERNEL_NAMES: readonly string[] = [
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'MaxPoolGrad',
  'Slice',
  'Reverse',
  'Unpack',
  'Identity',
  GROUP_NORM,
  GROUP_NORM_GRAD,
  ATTENTION,
  ATTENTION_GRAD,
];

/**
 * Install the replacement gradient kernels for the 'wasm' backend. Idempotent; call it after
 * '@tensorflow/tfjs-backend-wasm' has been imported (its kernels register on import), so that the
 * stock kernels are the ones replaced rather than the ones replacing ours.
 */
export function registerWasmKernels(): void {
  if (registered) return;
  replace('Conv2DBackpropInput', makeConv2DBackpropInputKernel);
  replace('Conv2DBackpropFilter', () => makeConv2DBackpropFilterKernel());
  replace('DepthwiseConv2dNativeBackpropInput', makeDepthwiseBackpropInputKernel);
  replace('DepthwiseConv2dNativeBackpropFilter', makeDepthwiseBackpropFilterKernel);
  replace('MaxPoolGrad', () => makeMaxPoolGradKernel());
  // Not a gradient kernel, but every kernel above slices, and the stock wasm Slice copies its
  // whole input per call (see slice.ts).
  replace('Slice', makeSliceKernel);
  // Also not a gradient kernel: every convolution's input gradient flips its kernel spatially,
  // and the stock wasm Reverse is ~10x slower than block copies (see reverse.ts).
  replace('Reverse', makeReverseKernel);
  // The stock Unpack calls the stock Slice directly, one full input copy per item (see unpack.ts).
  replace('Unpack', makeUnpackKernel);
  // Not a gradient kernel either: tfjs clones every tensor saved for a gradient (see identity.ts).
  replace('Identity', makeIdentityKernel);
  // New kernels (no stock counterpart): GroupNorm (+ SiLU) forward and backward in one launch each.
  registerGroupNormKernels(BACKEND);
  // Softmax attention per (sample, head), forward and backward in one launch each.
  registerAttentionKernels(BACKEND);
  registered = true;
}

/** Undo registerWasmKernels(), restoring the stock kernels (for tests and benchmarks). */
export function unregisterWasmKernels(): void {
  if (!registered) return;
  for (const name of WASM_KERNEL_NAMES) {
    tf.unregisterKernel(name, BACKEND);
    const stock = stockKernels.get(name);
    if (stock === undefined) continue;
    tf.registerKernel({ ...stock, kernelFunc: readyStock(name, stock) });
  }
  stockKernels.clear();
  registered = false;
}

/**
 * The stock wasm kernel function that registerWasmKernels() replaced (undefined when wasm had
 * none), callable directly (its setup is ensured).
 */
export function stockWasmKernel(kernelName: string): tf.KernelFunc | undefined {
  const stock = registered ? stockKernels.get(kernelName) : tf.getKernel(kernelName, BACKEND);
  return stock === undefined ? undefined : readyStock(kernelName, stock);
}

/** Whether registerWasmKernels() is in effect. */
export function wasmKernelsRegistered(): boolean {
  return registered;
}

export { conv2dFilterGradient, MAX_IM2COL_FLOATS } from './conv2d-backprop-filter.js';
export { conv2dInputGradient } from './conv2d-backprop-input.js';
export { depthwiseFilterGradient, depthwiseInputGradient } from './depthwise-conv2d-backprop.js';
export { maxPoolInputGradient } from './max-pool-grad.js';
