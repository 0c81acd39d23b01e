/**
 * Tensor.to's conversions between float32 and the 16-bit floats (bfloat16, float16): one native call
 * that reads the view where it lies and writes a new contiguous array, in SIMD, rounding to nearest
 * even (native/kernels/convert.h).
 */
import { native } from './binding';
import { rangeError } from './errors';
import { CONVERT, descriptorFor } from './native-layout';
import { allocFloat32Unfilled, numel } from './shape';

export type FloatDType = 'float32' | 'bfloat16' | 'float16';

/** The native code of each float dtype (convert and copyStrided descriptors). */
export const TYPE_CODE: Readonly<Record<FloatDType, number>> = { float32: 0, bfloat16: 1, float16: 2 };

function allocUint16(n: number, op: string): Uint16Array {
  try {
    return new Uint16Array(n);
  } catch (e) {
    throw rangeError('ERR_SIZE_OVERFLOW', `${op}: cannot allocate ${n} 16-bit elements: ${(e as Error).message}`);
  }
}

/**
 * The elements of a view (row-major) as a new contiguous array of `to`. Size-1 dimensions are
 * dropped and dimensions that follow each other in memory merged, so a contiguous view is one run.
 */
export function convertElements(
  data: Float32Array | Uint16Array,
  from: FloatDType,
  to: FloatDType,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  op: string,
): Float32Array | Uint16Array {
  const n = numel(shape);
  const out = to === 'float32' ? allocFloat32Unfilled(n, op) : allocUint16(n, op);
  if (n === 0) return out;
  const dims: number[] = [];
  const dimStrides: number[] = [];
  for (let i = 0; i < shape.length; ++i) {
    if (shape[i] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && dimStrides[last] === strides[i] * shape[i]) {
      dims[last] *= shape[i];
      dimStrides[last] = strides[i];
    } else {
      dims.push(shape[i]);
      dimStrides.push(strides[i]);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    dimStrides.push(1);
  }
  const F = CONVERT.fields;
  const d = descriptorFor(CONVERT, 2 * dims.length);
  d[F.from] = TYPE_CODE[from];
  d[F.to] = TYPE_CODE[to];
  d[F.rank] = dims.length;
  d[F.srcOffset] = offset;
  d.set(dims, CONVERT.length);
  d.set(dimStrides, CONVERT.length + dims.length);
  native().convert({ src: data, dst: out }, d);
  return out;
}
