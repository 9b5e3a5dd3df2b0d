/**
 * NumPy .npy files (format versions 1-3): little-endian float16/32/64 arrays in C order, read as
 * float32. Enough for a context tensor saved with `numpy.save`; anything else is refused by name.
 */
import { halfBitsToFloat } from '../checkpoint/half.js';

export interface NpyArray {
  shape: number[];
  data: Float32Array;
}

export function readNpy(bytes: Uint8Array, file: string): NpyArray {
  const fail = (m: string): never => {
    throw new Error(`${file}: ${m}`);
  };
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) fail('not a .npy file');
  const major = bytes[6] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? fail('header has no descr');
  if (/'fortran_order':\s*True/.test(header)) fail('Fortran-ordered arrays are not supported');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? fail('header has no shape');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + headerLen);
  const width =
    { '<f2': 2, '<f4': 4, '<f8': 8 }[descr] ??
    fail(`dtype '${descr}' is not supported (float16/32/64, little-endian)`);
  if (body.length < count * width)
    fail(`holds ${body.length} data bytes, shape ${JSON.stringify(shape)} needs ${count * width}`);
  const data = new Float32Array(count);
  const dv = new DataView(body.buffer, body.byteOffset, count * width);
  for (let i = 0; i < count; i++) {
    data[i] =
      width === 4
        ? dv.getFloat32(4 * i, true)
        : width === 8
          ? dv.getFloat64(8 * i, true)
          : halfBitsToFloat(dv.getUint16(2 * i, true));
  }
  return { shape, data };
}
