/**
 * Unpack (tf.unstack) for wasm without a full input copy per output. The stock wasm Unpack calls
 * the stock Slice directly (not through the kernel registry, so slice.ts does not reach it), and
 * that Slice copies the WHOLE input out of the heap for every slice: unstacking n items costs n
 * full copies. Measured: the attention head split of the LDM UNet, [80, 256, 24] into 80 items,
 * ~90 ms per call, 16 % of a batch-10 forward. This version copies each item straight from a view
 * of the heap (one contiguous block per item when unstacking axis 0). Strings go to the stock
 * kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { hasHeapAccess } from './wasm-heap.js';
import { copySlice } from './slice.js';

export function makeUnpackKernel(stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const value = args.inputs.value as tf.TensorInfo;
    const attrs = args.attrs as unknown as tf.UnpackAttrs;
    const backend = args.backend;
    if (value.dtype === 'string' || !hasHeapAccess(backend)) {
      if (stock === undefined) throw new Error('Unpack: unsupported input');
      return stock(args);
    }
    const rank = value.shape.length;
    const axis = attrs.axis < 0 ? attrs.axis + rank : attrs.axis;
    const count = value.shape[axis] as number;
    const outShape = value.shape.filter((_, d) => d !== axis);
    const begin = new Array<number>(rank).fill(0);
    const size = value.shape.slice();
    size[axis] = 1;
    const empty = tf.util.sizeFromShape(outShape) === 0;
    const outs: tf.TensorInfo[] = [];
    for (let i = 0; i < count; i++) {
      begin[axis] = i;
      // makeOutput may grow the wasm memory, which detaches earlier views: take the views after it.
      const out = backend.makeOutput(outShape, value.dtype);
      if (!empty)
        copySlice(
          backend.typedArrayFromHeap(value),
          value.shape,
          begin,
          size,
          backend.typedArrayFromHeap(out),
        );
      outs.push(out);
    }
    return outs;
  };
}
