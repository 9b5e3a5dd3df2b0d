/**
 * Separable linear image maps y = M_h · X · M_w^T, applied per sample and channel with plain
 * matmuls. Blur (with its padding folded in) and bicubic resampling are both of this form, and
 * matmul is exact, fast for image sizes up to ~1k, and has gradients on every backend (wasm lacks
 * the depthwise-conv backprop kernels a conv2d formulation would need). The adjoint of the map is
 * the same product with both matrices transposed, so it is exact by construction.
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

export function matrixToTensor(m: DenseMatrix): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(m.data), [m.rows, m.cols]);
}

/**
 * Apply `rowMap` (h' x h) along the height axis and `colMap` (w' x w) along the width axis of an
 * NHWC batch. With `transpose`, apply M_h^T and M_w^T instead (the adjoint): then the input's height
 * and width must equal the matrices' row counts.
 */
export function applySeparable(
  x: tf.Tensor4D,
  rowMap: tf.Tensor2D,
  colMap: tf.Tensor2D,
  transpose = false,
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [hIn, hOut] = transpose ? [rowMap.shape[0], rowMap.shape[1]] : [rowMap.shape[1], rowMap.shape[0]];
  const [wIn, wOut] = transpose ? [colMap.shape[0], colMap.shape[1]] : [colMap.shape[1], colMap.shape[0]];
  if (h !== hIn || w !== wIn) {
    throw new Error(`separable map expects ${hIn}x${wIn} images, got ${h}x${w}`);
  }
  return tf.tidy(() => {
    // Width pass: bring W last, flatten the rest into rows, right-multiply.
    const byWidth = tf.reshape(tf.transpose(x, [0, 1, 3, 2]), [n * h * c, w]);
    const widthDone = tf.matMul(byWidth, colMap, false, !transpose); // [n*h*c, wOut]
    // Height pass: [n, h, c, wOut] -> [n, wOut, c, h], flatten, right-multiply.
    const byHeight = tf.reshape(tf.transpose(tf.reshape(widthDone, [n, h, c, wOut]), [0, 3, 2, 1]), [
      n * wOut * c,
      h,
    ]);
    const heightDone = tf.matMul(byHeight, rowMap, false, !transpose); // [n*wOut*c, hOut]
    return tf.transpose(tf.reshape(heightDone, [n, wOut, c, hOut]), [0, 3, 1, 2]);
  });
}
