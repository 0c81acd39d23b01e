/** Shape arithmetic shared by every op: validation, sizes without overflow, broadcasting. */
import { constants as bufferConstants } from 'buffer';
import { rangeError, typeError, describeValue } from './errors';

/** Largest element count or index this package accepts: exact in a double, far beyond any real tensor. */
export const MAX_ELEMENTS = 2 ** 48;
export const MAX_RANK = 16;

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Checks that `shape` is an array of non-negative safe integers; returns a frozen copy. */
export function checkShape(shape: unknown, what: string): readonly number[] {
  if (!Array.isArray(shape)) {
    throw typeError(
      'ERR_INVALID_SHAPE',
      `Expected an array of non-negative integers for ${what} but received ${describeValue(shape)}`,
    );
  }
  if (shape.length > MAX_RANK)
    throw rangeError('ERR_INVALID_SHAPE', `${what} has ${shape.length} dimensions; at most ${MAX_RANK} are supported`);
  for (let i = 0; i < shape.length; ++i) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > MAX_ELEMENTS) {
      throw rangeError(
        'ERR_INVALID_SHAPE',
        `Expected a non-negative integer for dimension ${i} of ${what} but received ${describeValue(d)}`,
      );
    }
  }
  numel(shape as number[], what);
  return Object.freeze((shape as number[]).slice());
}

/** Product of the dimensions; a RangeError if it exceeds MAX_ELEMENTS (no silent float rounding). */
export function numel(shape: readonly number[], what = 'shape'): number {
  let n = 1;
  for (const d of shape) {
    if (d === 0) return 0;
  }
  for (const d of shape) {
    n *= d;
    if (n > MAX_ELEMENTS) {
      throw rangeError('ERR_SIZE_OVERFLOW', `${what} ${formatShape(shape)} has more than 2^48 elements`);
    }
  }
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/**
 * Broadcasts batch shapes NumPy-style (right-aligned; each dimension equal or 1). Returns the
 * result, or null when they do not broadcast.
 */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; ++i) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides that read a tensor of `shape`/`strides` as if broadcast to `target` (right-aligned):
 * stride 0 on a broadcast dimension. Assumes broadcastShapes succeeded.
 */
export function broadcastStrides(
  shape: readonly number[],
  strides: readonly number[],
  target: readonly number[],
): number[] {
  const out = new Array<number>(target.length).fill(0);
  const off = target.length - shape.length;
  for (let i = 0; i < shape.length; ++i) {
    out[off + i] = shape[i] === 1 && target[off + i] !== 1 ? 0 : strides[i];
  }
  return out;
}

/** Elements from which {@link allocFloat32Unfilled} skips the zero fill (below, it costs nothing). */
const UNFILLED_MIN_ELEMENTS = 64 * 1024;
const BUFFER_MAX_BYTES = bufferConstants.MAX_LENGTH;

/**
 * A Float32Array of n elements whose contents are NOT zeroed, for an output a kernel overwrites
 * entirely before anyone can read it (matmul writes every element of C, zeros when K = 0): the
 * zero fill of a fresh array is a memset of the whole output, ~1% of a 1024^3 product. Its own
 * ArrayBuffer (never a slice of Buffer's shared pool), so it can be transferred like any other.
 */
export function allocFloat32Unfilled(n: number, what: string): Float32Array {
  return allocUnfilled(Float32Array, 'float32', n, what);
}

/** As {@link allocFloat32Unfilled}, for 16-bit float bits (a half-precision GEMM's output). */
export function allocUint16Unfilled(n: number, what: string): Uint16Array {
  return allocUnfilled(Uint16Array, '16-bit', n, what);
}

function allocUnfilled<T extends Float32Array | Uint16Array>(
  Type: {
    new (n: number): T;
    new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
    BYTES_PER_ELEMENT: number;
  },
  kind: string,
  n: number,
  what: string,
): T {
  // Buffers are capped at buffer.constants.MAX_LENGTH (4 GiB on Node 20), typed arrays are not.
  const unfilled = n >= UNFILLED_MIN_ELEMENTS && n * Type.BYTES_PER_ELEMENT <= BUFFER_MAX_BYTES;
  try {
    if (!unfilled) return new Type(n);
    const bytes = Buffer.allocUnsafeSlow(n * Type.BYTES_PER_ELEMENT);
    return new Type(bytes.buffer, bytes.byteOffset, n);
  } catch (e) {
    throw rangeError('ERR_SIZE_OVERFLOW', `cannot allocate ${n} ${kind} elements for ${what}: ${(e as Error).message}`);
  }
}

/** new Float32Array(n), with an allocation the engine refuses reported as a typed RangeError. */
export function allocFloat32(n: number, what: string): Float32Array {
  try {
    return new Float32Array(n);
  } catch (e) {
    throw rangeError('ERR_SIZE_OVERFLOW', `cannot allocate ${n} float32 elements for ${what}: ${(e as Error).message}`);
  }
}
