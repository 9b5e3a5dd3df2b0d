/**
 * The part of the tfjs wasm backend the copy kernels (Slice, Reverse, Unpack) use to read inputs
 * and write outputs in place on the wasm heap. tfjs does not export it as a type.
 */
import type * as tf from '@tensorflow/tfjs';

export type Heap = Float32Array | Int32Array | Uint8Array;

export interface WasmHeapAccess {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Heap;
}

export function hasHeapAccess(backend: unknown): backend is WasmHeapAccess {
  const b = backend as Partial<WasmHeapAccess> | null;
  return b !== null && typeof b.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function';
}

/** Runs shorter than this are copied element by element (a TypedArray.set call costs more). */
export const SHORT_RUN = 16;
