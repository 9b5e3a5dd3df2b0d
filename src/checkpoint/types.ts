/** A tensor read out of a checkpoint file, before it becomes a tfjs tensor. */
export type CheckpointDType =
  'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export interface RawTensor {
  /** dtype as stored in the file. */
  dtype: CheckpointDType;
  shape: number[];
  /**
   * Values in C order. Floating types are widened to Float32Array; int64/int32/int16/int8 to Int32Array
   * (int64 clamped to the int32 range); uint8 and bool (as 0/1) to Uint8Array.
   */
  data: Float32Array | Int32Array | Uint8Array;
}

/** Tensors by their state_dict key, in file order. */
export type TensorMap = Map<string, RawTensor>;
