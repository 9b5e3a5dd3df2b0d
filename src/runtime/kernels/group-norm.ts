/**
 * GroupNorm (optionally followed by SiLU) as one kernel forward and one backward on wasm, computed
 * in JavaScript straight on the wasm heap. Composed from tfjs ops, one GroupNorm + SiLU took ~10
 * kernel launches forward (moments, sub, mul, add, sigmoid, ...) and ~25 with its gradient; at the
 * embedded models' sizes (at most 4x32x32x64 values) each launch costs more in overhead (~15 us)
 * than its arithmetic, and GroupNorm was 1,223 of the 5,800 launches of a decoder-gradient call.
 *
 * Forward, per sample and group (statistics in float64, biased variance as PyTorch):
 *   u = (x - mean) * rstd * gamma + beta,  y = silu ? u * sigmoid(u) : u.
 * Backward (from the saved x, gamma, beta; the statistics are recomputed, one pass over x):
 *   g = dy * gamma * (silu ? s * (1 + u * (1 - s)) : 1), s = sigmoid(u), xhat = (x - mean) * rstd,
 *   dx = rstd * (g - mean_grp(g) - xhat * mean_grp(g * xhat)).
 * Only the input gets a gradient: gamma and beta are constants (inference-only networks).
 */
import * as tf from '@tensorflow/tfjs';
import { hasHeapAccess, type WasmHeapAccess } from './wasm-heap.js';

export const GROUP_NORM = 'FlowGroupNorm';
export const GROUP_NORM_GRAD = 'FlowGroupNormGrad';

interface GroupNormAttrs {
  groups: number;
  eps: number;
  silu: boolean;
}

/**
 * Per sample, the group mean and 1/sqrt(var + eps) spread over the group's channels (arrays
 * [n * c]): one pass of per-channel sums and sums of squares in float64 (inner loops run over
 * the contiguous channels, which matters when groups hold one or two channels), then pooled per
 * group.
 */
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
  const mean = new Float64Array(n * c);
  const rstd = new Float64Array(n * c);
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    s1.fill(0);
    s2.fill(0);
    const end = (b + 1) * hw * c;
    for (let off = b * hw * c; off < end; off += c) {
      for (let ch = 0; ch < c; ch++) {
        const v = x[off + ch] as number;
        s1[ch] = (s1[ch] as number) + v;
        s2[ch] = (s2[ch] as number) + v * v;
      }
    }
    for (let g = 0; g < groups; g++) {
      let a = 0;
      let q = 0;
      for (let ch = g * cg; ch < (g + 1) * cg; ch++) {
        a += s1[ch] as number;
        q += s2[ch] as number;
      }
      const m = a / count;
      // E[x^2] - mean^2 in float64: float32 data leaves ~1e-9 relative error even at |mean| ~ 300 std.
      const r = 1 / Math.sqrt(Math.max(q / count - m * m, 0) + eps);
      mean.fill(m, b * c + g * cg, b * c + (g + 1) * cg);
      rstd.fill(r, b * c + g * cg, b * c + (g + 1) * cg);
    }
  }
  return { mean, rstd };
}

function heapBackend(backend: unknown, kernel: string): WasmHeapAccess & { disposeData(id: unknown): void } {
  const b = backend as { disposeData?: unknown };
  if (!hasHeapAccess(backend) || typeof b.disposeData !== 'function')
    throw new Error(`${kernel}: needs the wasm backend`);
  return backend as WasmHeapAccess & { disposeData(id: unknown): void };
}

/**
 * sigmoid(u) by the backend's own Sigmoid kernel function, called directly (no engine launch):
 * the wasm build's vectorised sigmoid is ~5x faster than Math.exp in a JavaScript loop, which
 * otherwise was most of the fused kernel's time. The caller disposes the result.
 */
function sigmoidOf(backend: unknown, u: tf.TensorInfo): tf.TensorInfo {
  const kernel = tf.getKernel('Sigmoid', tf.getBackend());
  if (kernel === undefined) throw new Error(`${GROUP_NORM}: the backend has no Sigmoid kernel`);
  return kernel.kernelFunc({
    inputs: { x: u },
    backend: backend as tf.KernelBackend,
    attrs: {},
  }) as tf.TensorInfo;
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** What both kernels start with: the backend, attributes, the output and the statistics of x. */
function setUp(args: KernelArgs, kernel: string) {
  const backend = heapBackend(args.backend, kernel);
  const attrs = args.attrs as unknown as GroupNormAttrs;
  const xInfo = args.inputs['x'] as tf.TensorInfo;
  const out = backend.makeOutput(xInfo.shape, 'float32');
  // Views after makeOutput: growing the heap detaches earlier ones.
  const view = (info: tf.TensorInfo): Float32Array => backend.typedArrayFromHeap(info) as Float32Array;
  const input = (name: string): Float32Array => view(args.inputs[name] as tf.TensorInfo);
  const [n, h, w, c] = xInfo.shape as [number, number, number, number];
  const { mean, rstd } = statistics(input('x'), xInfo.shape, attrs.groups, attrs.eps);
  return { backend, attrs, xInfo, out, view, input, n, hw: h * w, c, mean, rstd };
}

function forwardKernel(args: KernelArgs): tf.TensorInfo {
  const { backend, attrs, out, view, input, n, hw, c, mean, rstd } = setUp(args, GROUP_NORM);
  const [x, gamma, beta, u] = [input('x'), input('gamma'), input('beta'), view(out)];
  const a = new Float64Array(c);
  const sh = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    // u = x * a + sh per channel: the statistics and the affine map folded together.
    for (let ch = 0; ch < c; ch++) {
      const scale = (rstd[b * c + ch] as number) * (gamma[ch] as number);
      a[ch] = scale;
      sh[ch] = (beta[ch] as number) - (mean[b * c + ch] as number) * scale;
    }
    const end = (b + 1) * hw * c;
    for (let off = b * hw * c; off < end; off += c)
      for (let ch = 0; ch < c; ch++)
        u[off + ch] = (x[off + ch] as number) * (a[ch] as number) + (sh[ch] as number);
  }
  if (!attrs.silu) return out;
  const sInfo = sigmoidOf(backend, out);
  const y = view(out);
  const sig = view(sInfo);
  for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) * (sig[i] as number);
  backend.disposeData(sInfo.dataId);
  return out;
}

function backwardKernel(args: KernelArgs): tf.TensorInfo {
  const { backend, attrs, out, view, input, n, hw, c, mean, rstd } = setUp(args, GROUP_NORM_GRAD);
  const { groups, silu } = attrs;
  const [x, gamma, beta, dxInit] = [input('x'), input('gamma'), input('beta'), view(out)];
  const cg = c / groups;
  const count = hw * cg;
  // With SiLU: the gradient factor s * (1 + u * (1 - s)), s = sigmoid(u), first written into dx.
  if (silu) {
    for (let b = 0; b < n; b++)
      for (let off = b * hw * c; off < (b + 1) * hw * c; off += c)
        for (let ch = 0; ch < c; ch++) {
          const xhat =
            ((x[off + ch] as number) - (mean[b * c + ch] as number)) * (rstd[b * c + ch] as number);
          dxInit[off + ch] = xhat * (gamma[ch] as number) + (beta[ch] as number);
        }
    const sInfo = sigmoidOf(backend, out);
    const u = view(out);
    const sig = view(sInfo);
    for (let i = 0; i < u.length; i++) {
      const sv = sig[i] as number;
      u[i] = sv * (1 + (u[i] as number) * (1 - sv));
    }
    backend.disposeData(sInfo.dataId);
  }
  // Views again: the Sigmoid output may have grown the heap.
  const [dx, xv, dyv, gv] = [view(out), input('x'), input('dy'), input('gamma')];
  const mc = new Float64Array(c);
  const rc = new Float64Array(c);
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      mc[ch] = mean[b * c + ch] as number;
      rc[ch] = rstd[b * c + ch] as number;
    }
    s1.fill(0);
    s2.fill(0);
    const begin = b * hw * c;
    const end = (b + 1) * hw * c;
    // Pass 1: g into dx, and per-channel sums of g and g * xhat.
    for (let off = begin; off < end; off += c) {
      for (let ch = 0; ch < c; ch++) {
        const xhat = ((xv[off + ch] as number) - (mc[ch] as number)) * (rc[ch] as number);
        let g = (dyv[off + ch] as number) * (gv[ch] as number);
        if (silu) g *= dx[off + ch] as number;
        dx[off + ch] = g;
        s1[ch] = (s1[ch] as number) + g;
        s2[ch] = (s2[ch] as number) + g * xhat;
      }
    }
    // Group means of g and g * xhat, spread back over the channels.
    for (let grp = 0; grp < groups; grp++) {
      let a1 = 0;
      let a2 = 0;
      for (let ch = grp * cg; ch < (grp + 1) * cg; ch++) {
        a1 += s1[ch] as number;
        a2 += s2[ch] as number;
      }
      s1.fill(a1 / count, grp * cg, (grp + 1) * cg);
      s2.fill(a2 / count, grp * cg, (grp + 1) * cg);
    }
    // Pass 2: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    for (let off = begin; off < end; off += c) {
      for (let ch = 0; ch < c; ch++) {
        const r = rc[ch] as number;
        const xhat = ((xv[off + ch] as number) - (mc[ch] as number)) * r;
        dx[off + ch] = r * ((dx[off + ch] as number) - (s1[ch] as number) - xhat * (s2[ch] as number));
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
