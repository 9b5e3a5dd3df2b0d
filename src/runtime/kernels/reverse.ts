/**
 * Reverse for wasm by contiguous block copies. The stock wasm Reverse computes a source index per
 * element; flipping the spatial axes of a [3, 3, 768, 768] conv kernel (what every input gradient
 * of a convolution does) took ~161 ms there, against ~14 ms for a plain copy. When the innermost
 * axis is not reversed, the trailing axes that are not reversed form contiguous runs that keep
 * their order, so the output is those runs in a permuted order: one TypedArray.set per run (9
 * for that kernel). Reversals of the innermost axis are copied element by element (in JS, not
 * by the stock kernel: the stock wasm Reverse is wrong for bool tensors, measured here: it
 * writes garbage and then corrupts the heap). Strings and backends without heap access go to
 * the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { hasHeapAccess, type Heap, SHORT_RUN } from './wasm-heap.js';

/**
 * Copy `src` (row-major `shape`) into `dst` with the axes in `reversed` flipped. The trailing axes
 * that are not reversed are copied as contiguous runs; when the innermost axis itself is reversed,
 * the runs are its rows, copied back to front element by element.
 */
export function copyReversed(src: Heap, shape: number[], reversed: ReadonlySet<number>, dst: Heap): void {
  const rank = shape.length;
  let first = rank;
  let run = 1;
  while (first > 0 && !reversed.has(first - 1)) {
    first--;
    run *= shape[first] as number;
  }
  const backwards = first === rank && rank > 0;
  if (backwards) {
    first = rank - 1;
    run = shape[first] as number;
  }
  const strides = tf.util.computeStrides(shape);
  const outer = shape.slice(0, first);
  const count = outer.reduce((p, q) => p * q, 1);
  const idx = new Array<number>(first).fill(0);
  let out = 0;
  for (let n = 0; n < count; n++) {
    let off = 0;
    for (let d = 0; d < first; d++) {
      const i = idx[d] as number;
      off += (reversed.has(d) ? (outer[d] as number) - 1 - i : i) * (strides[d] as number);
    }
    if (backwards) {
      const end = off + run - 1;
      for (let i = 0; i < run; i++) dst[out + i] = src[end - i] as number;
    } else if (run < SHORT_RUN) {
      for (let i = 0; i < run; i++) dst[out + i] = src[off + i] as number;
    } else {
      dst.set(src.subarray(off, off + run), out);
    }
    out += run;
    for (let d = first - 1; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      if ((idx[d] as number) < (outer[d] as number)) break;
      idx[d] = 0;
    }
  }
}

export function makeReverseKernel(stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const attrs = args.attrs as unknown as tf.ReverseAttrs;
    const rank = x.shape.length;
    // parseAxisParam turns negative axes into positive ones and checks the range.
    const axes = rank === 0 ? [] : tf.util.parseAxisParam(attrs.dims, x.shape);
    // A reversed axis of length 1 changes nothing: dropping it can make the innermost run longer.
    const reversed = new Set(axes.filter((a) => (x.shape[a] as number) > 1));
    if (x.dtype === 'string' || !hasHeapAccess(args.backend)) {
      if (stock === undefined) throw new Error('Reverse: unsupported input');
      return stock(args);
    }
    // makeOutput may grow the wasm memory, which detaches earlier views: take the views after it.
    const out = args.backend.makeOutput(x.shape, x.dtype);
    if (tf.util.sizeFromShape(x.shape) === 0) return out;
    copyReversed(args.backend.typedArrayFromHeap(x), x.shape, reversed, args.backend.typedArrayFromHeap(out));
    return out;
  };
}
