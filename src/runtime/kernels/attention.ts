/**
 * Multi-head softmax attention as one kernel forward and one backward on wasm. q, k, v, output:
 * [n, T, C] with C = heads * ch, head h reading channels h * ch .. (h + 1) * ch:
 *   O = softmax(scale * Q K^T) V per (sample, head).
 * Why: composed from tfjs ops, each (sample, head) item cost ~4 kernel launches forward and ~20
 * with its gradient (matMuls, explicit transposes, softmax and its gradient, tape copies): the
 * embedded LDM UNet's 88 items made ~2,000 of the ~3,400 launches of one input-gradient call, at
 * ~15 us of engine overhead each. The batched (rank-3) wasm matMul is no way out: it runs a plain
 * loop at ~3 GFLOP/s, and its gradients use transpose flags (slower still). Here every product is
 * a rank-2, flag-free matMul (XNNPACK) and the softmax the wasm one, both called as kernel
 * functions directly (no engine launch); the head split, transposes and the softmax gradient are
 * JavaScript loops over the wasm heap. Every operand is a freshly allocated tensor: wasm caches an
 * XNNPACK operator per right-hand-side tensor, so a reused buffer would reuse stale packed values.
 *
 * Backward (P recomputed from the saved q, k): dV = P^T dO, dP = dO V^T,
 * dS = P * (dP - rowsum(dP * P)), dQ = scale dS K, dK = dS^T (scale Q).
 */
import * as tf from '@tensorflow/tfjs';
import { hasHeapAccess, type WasmHeapAccess } from './wasm-heap.js';

export const ATTENTION = 'FlowAttention';
export const ATTENTION_GRAD = 'FlowAttentionGrad';

interface AttentionAttrs {
  heads: number;
  scale: number;
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** Heap allocation, views and direct calls of the backend's own matMul and softmax kernels. */
class HeapOps {
  private readonly matMulKernel: tf.KernelFunc;
  private readonly softmaxKernel: tf.KernelFunc;

  constructor(
    private readonly backend: WasmHeapAccess & { disposeData(id: tf.DataId): void },
    kernel: string,
  ) {
    const matMul = tf.getKernel('BatchMatMul', tf.getBackend());
    const softmax = tf.getKernel('Softmax', tf.getBackend());
    if (!matMul || !softmax) throw new Error(`${kernel}: the backend lacks BatchMatMul or Softmax`);
    this.matMulKernel = matMul.kernelFunc;
    this.softmaxKernel = softmax.kernelFunc;
  }

  static of(backend: unknown, kernel: string): HeapOps {
    const b = backend as { disposeData?: unknown };
    if (!hasHeapAccess(backend) || typeof b.disposeData !== 'function')
      throw new Error(`${kernel}: needs the wasm backend`);
    return new HeapOps(backend as WasmHeapAccess & { disposeData(id: tf.DataId): void }, kernel);
  }

  alloc(shape: number[]): tf.TensorInfo {
    return this.backend.makeOutput(shape, 'float32');
  }

  /** A fresh view: any allocation may grow the heap and detach older views. */
  view(info: tf.TensorInfo): Float32Array {
    return this.backend.typedArrayFromHeap(info) as Float32Array;
  }

  free(...infos: tf.TensorInfo[]): void {
    for (const info of infos) this.backend.disposeData(info.dataId);
  }

  /** a [1, m, k] @ b [1, k, p] -> [1, m, p] */
  matMul(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    const attrs = { transposeA: false, transposeB: false };
    return this.matMulKernel({
      inputs: { a, b },
      backend: this.backend as unknown as tf.KernelBackend,
      attrs,
    }) as tf.TensorInfo;
  }

  /** Row softmax of [1, T, T]. */
  softmax(x: tf.TensorInfo): tf.TensorInfo {
    return this.softmaxKernel({
      inputs: { logits: x },
      backend: this.backend as unknown as tf.KernelBackend,
      attrs: { dim: 2 },
    }) as tf.TensorInfo;
  }

  /** Head h of sample b of src [n, T, C] into a new [1, T, ch] (or [1, ch, T] when transposed), times scale. */
  gather(
    src: tf.TensorInfo,
    b: number,
    h: number,
    ch: number,
    transposed: boolean,
    scale = 1,
  ): tf.TensorInfo {
    const [, t, c] = src.shape as [number, number, number];
    const out = this.alloc(transposed ? [1, ch, t] : [1, t, ch]);
    const s = this.view(src);
    const d = this.view(out);
    const base = b * t * c + h * ch;
    for (let i = 0; i < t; i++) {
      const row = base + i * c;
      if (transposed) for (let j = 0; j < ch; j++) d[j * t + i] = (s[row + j] as number) * scale;
      else for (let j = 0; j < ch; j++) d[i * ch + j] = (s[row + j] as number) * scale;
    }
    return out;
  }

  /** [1, T, ch] times scale into head h of sample b of dst [n, T, C]; frees the item. */
  scatter(item: tf.TensorInfo, dst: tf.TensorInfo, b: number, h: number, ch: number, scale = 1): void {
    const [, t, c] = dst.shape as [number, number, number];
    const s = this.view(item);
    const d = this.view(dst);
    const base = b * t * c + h * ch;
    for (let i = 0; i < t; i++)
      for (let j = 0; j < ch; j++) d[base + i * c + j] = (s[i * ch + j] as number) * scale;
    this.free(item);
  }

  /** The transpose of a square [1, T, T] as a new tensor. */
  transposeSquare(x: tf.TensorInfo): tf.TensorInfo {
    const t = x.shape[1] as number;
    const out = this.alloc([1, t, t]);
    const s = this.view(x);
    const d = this.view(out);
    for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) d[j * t + i] = s[i * t + j] as number;
    return out;
  }
}

function items(shape: readonly number[], heads: number): { n: number; ch: number } {
  const [n, , c] = shape as [number, number, number];
  return { n, ch: c / heads };
}

function forwardKernel(args: KernelArgs): tf.TensorInfo {
  const ops = HeapOps.of(args.backend, ATTENTION);
  const { heads, scale } = args.attrs as unknown as AttentionAttrs;
  const q = args.inputs['q'] as tf.TensorInfo;
  const k = args.inputs['k'] as tf.TensorInfo;
  const v = args.inputs['v'] as tf.TensorInfo;
  const out = ops.alloc(q.shape);
  const { n, ch } = items(q.shape, heads);
  for (let b = 0; b < n; b++)
    for (let h = 0; h < heads; h++) {
      const qi = ops.gather(q, b, h, ch, false, scale);
      const kTi = ops.gather(k, b, h, ch, true);
      const logits = ops.matMul(qi, kTi);
      const p = ops.softmax(logits);
      ops.free(qi, kTi, logits);
      const vi = ops.gather(v, b, h, ch, false);
      const o = ops.matMul(p, vi);
      ops.free(p, vi);
      ops.scatter(o, out, b, h, ch);
    }
  return out;
}

function backwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const ops = HeapOps.of(args.backend, ATTENTION_GRAD);
  const { heads, scale } = args.attrs as unknown as AttentionAttrs;
  const dy = args.inputs['dy'] as tf.TensorInfo;
  const q = args.inputs['q'] as tf.TensorInfo;
  const k = args.inputs['k'] as tf.TensorInfo;
  const v = args.inputs['v'] as tf.TensorInfo;
  const dq = ops.alloc(q.shape);
  const dk = ops.alloc(k.shape);
  const dv = ops.alloc(v.shape);
  const { n, ch } = items(q.shape, heads);
  for (let b = 0; b < n; b++)
    for (let h = 0; h < heads; h++) {
      const qs = ops.gather(q, b, h, ch, false, scale);
      const kT = ops.gather(k, b, h, ch, true);
      const logits = ops.matMul(qs, kT);
      const p = ops.softmax(logits);
      ops.free(kT, logits);
      const dO = ops.gather(dy, b, h, ch, false);
      const vT = ops.gather(v, b, h, ch, true);
      const dP = ops.matMul(dO, vT);
      const pT = ops.transposeSquare(p);
      ops.scatter(ops.matMul(pT, dO), dv, b, h, ch);
      ops.free(vT, pT, dO);
      // dS = P * (dP - rowsum(dP * P)), in place in dP.
      const t = p.shape[1] as number;
      const pv = ops.view(p);
      const dS = ops.view(dP);
      for (let i = 0; i < t; i++) {
        let dot = 0;
        for (let j = 0; j < t; j++) dot += (dS[i * t + j] as number) * (pv[i * t + j] as number);
        for (let j = 0; j < t; j++)
          dS[i * t + j] = (pv[i * t + j] as number) * ((dS[i * t + j] as number) - dot);
      }
      ops.free(p);
      const ki = ops.gather(k, b, h, ch, false);
      ops.scatter(ops.matMul(dP, ki), dq, b, h, ch, scale);
      const dST = ops.transposeSquare(dP);
      ops.scatter(ops.matMul(dST, qs), dk, b, h, ch);
      ops.free(ki, dST, dP, qs);
    }
  return [dq, dk, dv];
}

/** Register both kernels for `backendName` (a backend with wasm heap access) and the gradient. */
export function registerAttentionKernels(backendName: string): void {
  tf.registerKernel({ kernelName: ATTENTION, backendName, kernelFunc: forwardKernel as tf.KernelFunc });
  tf.registerKernel({ kernelName: ATTENTION_GRAD, backendName, kernelFunc: backwardKernel as tf.KernelFunc });
  if (tf.getGradient(ATTENTION) === undefined) {
    tf.registerGradient({
      kernelName: ATTENTION,
      inputsToSave: ['q', 'k', 'v'],
      gradFunc: (dy, saved, attrs) => {
        const [q, k, v] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const [dq, dk, dv] = tf
          .engine()
          .runKernel(ATTENTION_GRAD, { dy: dy as tf.Tensor, q, k, v }, attrs) as tf.Tensor[];
        return { q: () => dq as tf.Tensor, k: () => dk as tf.Tensor, v: () => dv as tf.Tensor };
      },
    });
  }
}

/** Whether the active backend has the fused kernel (wasm after registerWasmKernels). */
export function hasFusedAttention(): boolean {
  return tf.getKernel(ATTENTION, tf.getBackend()) !== undefined;
}

/**
 * softmax(scale * q k^T) v per (sample, head) of [n, T, heads * ch] tensors, when the active
 * backend has the fused kernel (wasm after registerWasmKernels); else undefined.
 */
export function fusedAttention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  heads: number,
  scale: number,
): tf.Tensor3D | undefined {
  if (!hasFusedAttention()) return undefined;
  const attrs: AttentionAttrs = { heads, scale };
  return tf.engine().runKernel(ATTENTION, { q, k, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor3D;
}
