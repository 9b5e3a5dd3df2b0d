/**
 * Float64 loop reference for the gradients of an NHWC conv2d (dilation 1), written from the
 * definition, independent of tfjs: padding is given explicitly as [top, left], and the gradients of
 * L = sum(conv(x, w) * r) are dL/dx and dL/dw.
 */
export interface RefConv {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padTop: number;
  padLeft: number;
  ho: number;
  wo: number;
}

/** TensorFlow's 'same' rule: total = max((out-1)*s + k - in, 0), the smaller half on top/left. */
export function samePadding(inSize: number, k: number, s: number): { out: number; before: number } {
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + k - inSize, 0);
  return { out, before: Math.floor(total / 2) };
}

/** Output size for explicit padding (before + after) and 'valid' (0, 0). */
export function explicitOut(inSize: number, k: number, s: number, before: number, after: number): number {
  return Math.floor((inSize + before + after - k) / s) + 1;
}

export function refConvGrads(
  c: RefConv,
  x: Float32Array,
  wt: Float32Array,
  r: Float32Array,
): { dx: Float64Array; dw: Float64Array } {
  const dx = new Float64Array(c.n * c.h * c.w * c.ci);
  const dw = new Float64Array(c.kh * c.kw * c.ci * c.co);
  for (let b = 0; b < c.n; b++) {
    for (let i = 0; i < c.ho; i++) {
      for (let j = 0; j < c.wo; j++) {
        const rBase = ((b * c.ho + i) * c.wo + j) * c.co;
        for (let a = 0; a < c.kh; a++) {
          const row = i * c.sh + a - c.padTop;
          if (row < 0 || row >= c.h) continue;
          for (let e = 0; e < c.kw; e++) {
            const col = j * c.sw + e - c.padLeft;
            if (col < 0 || col >= c.w) continue;
            const xBase = ((b * c.h + row) * c.w + col) * c.ci;
            const wBase = (a * c.kw + e) * c.ci * c.co;
            for (let p = 0; p < c.ci; p++) {
              const xv = x[xBase + p] as number;
              let acc = 0;
              for (let q = 0; q < c.co; q++) {
                const rv = r[rBase + q] as number;
                acc += (wt[wBase + p * c.co + q] as number) * rv;
                dw[wBase + p * c.co + q] = (dw[wBase + p * c.co + q] as number) + xv * rv;
              }
              dx[xBase + p] = (dx[xBase + p] as number) + acc;
            }
          }
        }
      }
    }
  }
  return { dx, dw };
}
