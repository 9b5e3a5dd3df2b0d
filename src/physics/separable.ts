/**
 * Separable linear image maps y = M_h · X · M_w^T, applied per sample and channel with plain
 * matmuls. Blur (with its padding folded in) and bicubic resampling are both of this form, and
 * matmul is exact, fast for image sizes up to ~1k, and has gradients on every backend (wasm lacks
 * the depthwise-conv backprop kernels a conv2d formulation would need). The adjoint applies M_h^T
 * and M_w^T, so it is exact by construction.
 *
 * Speed on wasm: only a plain 2-D matMul without transpose flags takes the fast (XNNPACK) path; a
 * transposed or batched/broadcast matMul was measured 10-20x slower (256x256 images), while 4-D transposes are cheap.
 * So each pass is "transpose the axis last, flatten, right-multiply by a pre-transposed matrix",
 * and the gradient is registered with tf.customGrad as the adjoint map (and vice versa) instead of
 * letting tfjs differentiate matMul into its slow transposed form.
 */
import * as tf from '@tensorflow/tfjs';

/** A dense row-major matrix built in float64 on the JS side. */
export interface DenseMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function zeroMatrix(rows: number, cols: number): DenseMatrix {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

export function transposeMatrix(m: DenseMatrix): DenseMatrix {
  const t = zeroMatrix(m.cols, m.rows);
  for (let i = 0; i < m.rows; i++)
    for (let j = 0; j < m.cols; j++) t.data[j * m.rows + i] = m.data[i * m.cols + j] as number;
  return t;
}

export function matrixToTensor(m: DenseMatrix): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(m.data), [m.rows, m.cols]);
}

/**
 * Apply a height map and a width map given as right-multiplication matrices: `heightRight` is
 * (h x h') and `widthRight` is (w x w'), i.e. the transposes of M_h and M_w.
 */
function rightMultiplyBoth(x: tf.Tensor4D, heightRight: tf.Tensor2D, widthRight: tf.Tensor2D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [hIn, hOut] = heightRight.shape;
  const [wIn, wOut] = widthRight.shape;
  if (h !== hIn || w !== wIn) throw new Error(`separable map expects ${hIn}x${wIn} images, got ${h}x${w}`);
  return tf.tidy(() => {
    // Width pass: [n, h, w, c] -> [n, h, c, w] -> rows of length w -> [n·h·c, wOut].
    const byWidth = tf.reshape(tf.transpose(x, [0, 1, 3, 2]), [n * h * c, w]);
    const widthDone = tf.reshape(tf.matMul(byWidth, widthRight), [n, h, c, wOut]);
    // Height pass: [n, h, c, wOut] -> [n, wOut, c, h] -> rows of length h -> [n·wOut·c, hOut].
    const byHeight = tf.reshape(tf.transpose(widthDone, [0, 3, 2, 1]), [n * wOut * c, h]);
    const heightDone = tf.reshape(tf.matMul(byHeight, heightRight), [n, wOut, c, hOut]);
    return tf.transpose(heightDone, [0, 3, 1, 2]) as tf.Tensor4D;
  });
}

/** A linear map whose tfjs gradient is its given transpose (the op itself is not taped). */
function linearWithGradient(
  map: (x: tf.Tensor4D) => tf.Tensor4D,
  transpose: (y: tf.Tensor4D) => tf.Tensor4D,
): (x: tf.Tensor4D) => tf.Tensor4D {
  const op = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = inputs[0] as tf.Tensor4D;
    return { value: map(x), gradFunc: (dy: tf.Tensor4D) => transpose(dy) };
  });
  return (x) => op(x);
}

/** A separable linear map with its adjoint, both differentiable (each is the other's gradient). */
export class SeparableMap {
  /** Input [h, w] and output [h', w'] spatial sizes. */
  readonly inputSize: readonly [number, number];
  readonly outputSize: readonly [number, number];
  private readonly tensors: tf.Tensor2D[];
  private readonly forwardFn: (x: tf.Tensor4D) => tf.Tensor4D;
  private readonly adjointFn: (y: tf.Tensor4D) => tf.Tensor4D;

  /** `rowMap` is M_h (h' x h), `colMap` is M_w (w' x w). */
  constructor(rowMap: DenseMatrix, colMap: DenseMatrix) {
    this.inputSize = [rowMap.cols, colMap.cols];
    this.outputSize = [rowMap.rows, colMap.rows];
    // Right-multiplication matrices: M^T for the map, M for its adjoint.
    const [hFwd, wFwd, hAdj, wAdj] = [transposeMatrix(rowMap), transposeMatrix(colMap), rowMap, colMap].map(
      (m) => tf.keep(matrixToTensor(m)),
    ) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    this.tensors = [hFwd, wFwd, hAdj, wAdj];
    const forward = (x: tf.Tensor4D): tf.Tensor4D => rightMultiplyBoth(x, hFwd, wFwd);
    const adjoint = (y: tf.Tensor4D): tf.Tensor4D => rightMultiplyBoth(y, hAdj, wAdj);
    this.forwardFn = linearWithGradient(forward, adjoint);
    this.adjointFn = linearWithGradient(adjoint, forward);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return this.forwardFn(x);
  }

  applyAdjoint(y: tf.Tensor4D): tf.Tensor4D {
    return this.adjointFn(y);
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
  }
}
