/**
 * GroupNorm (optionally followed by SiLU) as one kernel forward and one backward on wasm, computed
 * in JavaScript straight on the wasm heap. Composed from tfjs ops, one GroupNorm + SiLU took ~10
 * kernel launches forward (moments, sub, mul, add, sigmoid, ...) and ~25 with its gradient; at the
 * embedded models' sizes (at most 4x32x32x64 values) each launch costs more in overhead (~15 us)
 * than its arithmetic, and GroupNorm was 1,223 of the 5,800 launches of a decoder-gradient call.
 *
 * Forward, per sample and group (statistics in float64, two passes, biased variance as PyTorch):
 *   u = (x - mean) * rstd * gamma + beta,  y = silu ? u * sigmoid(u) : u.
 * Backward (from the saved x, gamma, beta; the statistics are recomputed, one pass over x):
 *   g = dy * gamma * (silu ? s * (1 + u * (1 - s)) : 1), s = sigmoid(u), xhat = (x - mean) * rstd,
 *   dx = rstd * (g - mean_grp(g) - xhat * mean_grp(g * xhat)).
 * Only the input gets a gradient: gamma and beta are constants (inference-only networks).
 */
import * as tf from '@tensorflow/tfjs';
import { hasHeapAccess } from './wasm-heap.js';

export const GROUP_NORM = 'FlowGroupNorm';
export const GROUP_NORM_GRAD = 'FlowGroupNormGrad';

interface GroupNormAttrs {
  groups: number;
  eps: number;
  silu: boolean;
}

/** Per (sample, group) mean and 1/sqrt(var + eps) of NHWC x, flattened [n * groups]. */
function statistics(
  x: Float32Array,
  shape: readonly number[],
  groups: number,
  eps: number,
): { mean: Float64Array; rstd: Float64Array } {
  const [n, h, w, c] = shape as [number, number, number, number];
  const hw = h * w;
  const cg = c / groups;
  const count = hw * cg;
  const mean = new Float64Array(n * groups);
  const rstd = new Float64Array(n * groups);
  for (let b = 0; b < n; b++) {
    const base = b * hw * c;
    const s = mean.subarray(b * groups, (b + 1) * groups);
    for (let p = 0; p < hw; p++) {
      let off = base + p * c;
      for (let g = 0; g < groups; g++) {
        let acc = 0;
        for (let k = 0; k < cg; k++) acc += x[off++] as number;
        s[g] = (s[g] as number) + acc;
      }
    }
    for (let g = 0; g < groups; g++) s[g] = (s[g] as number) / count;
    const q = rstd.subarray(b * groups, (b + 1) * groups);
    for (let p = 0; p < hw; p++) {
      let off = base + p * c;
      for (let g = 0; g < groups; g++) {
        const m = s[g] as number;
        let acc = 0;
        for (let k = 0; k < cg; k++) {
          const d = (x[off++] as number) - m;
          acc += d * d;
        }
        q[g] = (q[g] as number) + acc;
      }
    }
    for (let g = 0; g < groups; g++) q[g] = 1 / Math.sqrt((q[g] as number) / count + eps);
  }
  return { mean, rstd };
}

function heapBackend(backend: unknown, kernel: string) {
  if (!hasHeapAccess(backend)) throw new Error(`${kernel}: needs the wasm backend`);
  return backend;
}

function forwardKernel(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = heapBackend(args.backend, GROUP_NORM);
  const { groups, eps, silu } = args.attrs as unknown as GroupNormAttrs;
  const xInfo = args.inputs['x'] as tf.TensorInfo;
  const out = backend.makeOutput(xInfo.shape, 'float32');
  // Views after makeOutput: growing the heap detaches earlier ones.
  const x = backend.typedArrayFromHeap(xInfo) as Float32Array;
  const gamma = backend.typedArrayFromHeap(args.inputs['gamma'] as tf.TensorInfo) as Float32Array;
  const beta = backend.typedArrayFromHeap(args.inputs['beta'] as tf.TensorInfo) as Float32Array;
  const y = backend.typedArrayFromHeap(out) as Float32Array;
  const [n, h, w, c] = xInfo.shape as [number, number, number, number];
  const hw = h * w;
  const cg = c / groups;
  const { mean, rstd } = statistics(x, xInfo.shape, groups, eps);
  const a = new Float32Array(c);
  const sh = new Float32Array(c);
  for (let b = 0; b < n; b++) {
    // u = x * a + sh per channel: the statistics and the affine map folded together.
    for (let ch = 0; ch < c; ch++) {
      const g = b * groups + Math.floor(ch / cg);
      const scale = (rstd[g] as number) * (gamma[ch] as number);
      a[ch] = scale;
      sh[ch] = (beta[ch] as number) - (mean[g] as number) * scale;
    }
    const base = b * hw * c;
    for (let p = 0; p < hw; p++) {
      const off = base + p * c;
      for (let ch = 0; ch < c; ch++) {
        const u = (x[off + ch] as number) * (a[ch] as number) + (sh[ch] as number);
        y[off + ch] = silu ? u / (1 + Math.exp(-u)) : u;
      }
    }
  }
  return out;
}

function backwardKernel(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const backend = heapBackend(args.backend, GROUP_NORM_GRAD);
  const { groups, eps, silu } = args.attrs as unknown as GroupNormAttrs;
  const xInfo = args.inputs['x'] as tf.TensorInfo;
  const out = backend.makeOutput(xInfo.shape, 'float32');
  const x = backend.typedArrayFromHeap(xInfo) as Float32Array;
  const dy = backend.typedArrayFromHeap(args.inputs['dy'] as tf.TensorInfo) as Float32Array;
  const gamma = backend.typedArrayFromHeap(args.inputs['gamma'] as tf.TensorInfo) as Float32Array;
  const beta = backend.typedArrayFromHeap(args.inputs['beta'] as tf.TensorInfo) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  const [n, h, w, c] = xInfo.shape as [number, number, number, number];
  const hw = h * w;
  const cg = c / groups;
  const count = hw * cg;
  const { mean, rstd } = statistics(x, xInfo.shape, groups, eps);
  const m1 = new Float64Array(groups);
  const m2 = new Float64Array(groups);
  for (let b = 0; b < n; b++) {
    const base = b * hw * c;
    const mu = mean.subarray(b * groups, (b + 1) * groups);
    const rs = rstd.subarray(b * groups, (b + 1) * groups);
    m1.fill(0);
    m2.fill(0);
    // Pass 1: g into dx, and the two group sums.
    for (let p = 0; p < hw; p++) {
      let off = base + p * c;
      for (let grp = 0; grp < groups; grp++) {
        const m = mu[grp] as number;
        const r = rs[grp] as number;
        let s1 = 0;
        let s2 = 0;
        for (let k = 0; k < cg; k++, off++) {
          const ch = grp * cg + k;
          const xhat = ((x[off] as number) - m) * r;
          let g = (dy[off] as number) * (gamma[ch] as number);
          if (silu) {
            const u = xhat * (gamma[ch] as number) + (beta[ch] as number);
            const s = 1 / (1 + Math.exp(-u));
            g *= s * (1 + u * (1 - s));
          }
          dx[off] = g;
          s1 += g;
          s2 += g * xhat;
        }
        m1[grp] = (m1[grp] as number) + s1;
        m2[grp] = (m2[grp] as number) + s2;
      }
    }
    for (let grp = 0; grp < groups; grp++) {
      m1[grp] = (m1[grp] as number) / count;
      m2[grp] = (m2[grp] as number) / count;
    }
    // Pass 2: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    for (let p = 0; p < hw; p++) {
      let off = base + p * c;
      for (let grp = 0; grp < groups; grp++) {
        const m = mu[grp] as number;
        const r = rs[grp] as number;
        const a1 = m1[grp] as number;
        const a2 = m2[grp] as number;
        for (let k = 0; k < cg; k++, off++) {
          const xhat = ((x[off] as number) - m) * r;
          dx[off] = r * ((dx[off] as number) - a1 - xhat * a2);
        }
      }
    }
  }
  return out;
}

/** Register both kernels for `backendName` (a backend with wasm heap access) and the gradient. */
export function registerGroupNormKernels(backendName: string): void {
  tf.registerKernel({ kernelName: GROUP_NORM, backendName, kernelFunc: forwardKernel as tf.KernelFunc });
  tf.registerKernel({
    kernelName: GROUP_NORM_GRAD,
    backendName,
    kernelFunc: backwardKernel as tf.KernelFunc,
  });
  if (tf.getGradient(GROUP_NORM) === undefined) {
    tf.registerGradient({
      kernelName: GROUP_NORM,
      inputsToSave: ['x', 'gamma', 'beta'],
      gradFunc: (dy, saved, attrs) => {
        const [x, gamma, beta] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const grad = dy as tf.Tensor;
        return {
          x: () => tf.engine().runKernel(GROUP_NORM_GRAD, { dy: grad, x, gamma, beta }, attrs) as tf.Tensor,
        };
      },
    });
  }
}

/**
 * The fused GroupNorm (+ SiLU) of NHWC x when the active backend has the kernel (wasm after
 * registerWasmKernels), else undefined: the caller then composes it from tfjs ops.
 */
export function fusedGroupNorm(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  groups: number,
  eps: number,
  silu: boolean,
): tf.Tensor4D | undefined {
  if (tf.getKernel(GROUP_NORM, tf.getBackend()) === undefined) return undefined;
  const attrs: GroupNormAttrs = { groups, eps, silu };
  return tf
    .engine()
    .runKernel(GROUP_NORM, { x, gamma, beta }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
