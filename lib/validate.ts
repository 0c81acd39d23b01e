/** Argument checks shared by every op: each names the argument and shows what came. */
import { describeValue, rangeError, typeError } from './errors';
import { formatShape, numel } from './shape';
import { DType, isTensor, Tensor, TensorData } from './tensor';

/**
 * Checks that `value` is a Tensor of one of `dtypes` whose view still lies inside its data (a
 * detached or shrunk buffer is refused here, before any native code sees it).
 */
export function expectTensor(value: unknown, name: string, dtypes: readonly DType[], op: string): Tensor {
  if (!isTensor(value)) {
    throw typeError(
      'ERR_INVALID_ARGUMENT',
      `${op}: Expected a Tensor for ${name} but received ${describeValue(value)}`,
    );
  }
  if (!dtypes.includes(value.dtype)) {
    throw typeError(
      'ERR_INVALID_DTYPE',
      `${op}: Expected ${dtypes.join(' or ')} for ${name} ` +
        `but received a ${value.dtype} tensor of shape ${formatShape(value.shape)}`,
    );
  }
  checkViewInBounds(value, name, op);
  return value;
}

export function checkViewInBounds(t: Tensor, name: string, op: string): void {
  const count = numel(t.shape, name);
  if (count === 0) return;
  const data: TensorData = t.data;
  if (data.buffer.byteLength === 0 && data.length === 0) {
    throw typeError('ERR_DETACHED_BUFFER', `${op}: ${name}'s ArrayBuffer is detached (transferred or closed)`);
  }
  let last = t.offset;
  for (let i = 0; i < t.shape.length; ++i) last += (t.shape[i] - 1) * t.strides[i];
  if (last >= data.length) {
    throw rangeError(
      'ERR_OUT_OF_BOUNDS',
      `${op}: ${name} of shape ${formatShape(t.shape)} needs element ${last} but its data now has ${data.length}`,
    );
  }
}

export function expectRank(t: Tensor, name: string, ranks: readonly number[], op: string, hint: string): void {
  if (!ranks.includes(t.rank)) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: Expected ${name} to have ${ranks.join(' or ')} dimensions (${hint}) ` +
        `but received shape ${formatShape(t.shape)}`,
    );
  }
}

export function expectOptions(value: unknown, op: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw typeError('ERR_INVALID_OPTION', `${op}: Expected an options object but received ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

export function optionalBoolean(options: Record<string, unknown>, key: string, op: string, fallback: boolean): boolean {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') {
    throw typeError('ERR_INVALID_OPTION', `${op}: Expected a boolean for ${key} but received ${describeValue(v)}`);
  }
  return v;
}

/** The `signal` option of a Promise form: an AbortSignal or undefined. */
export function optionalSignal(options: Record<string, unknown>, op: string): AbortSignal | undefined {
  const v = options.signal;
  if (v === undefined) return undefined;
  // Duck-typed, as Node does: an AbortSignal from another realm (a vm context) is one too.
  const s = v as Partial<AbortSignal> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function' ||
    typeof s.removeEventListener !== 'function'
  ) {
    throw typeError('ERR_INVALID_OPTION', `${op}: Expected an AbortSignal for signal but received ${describeValue(v)}`);
  }
  return v as AbortSignal;
}

export function optionalFiniteNumber(options: Record<string, unknown>, key: string, op: string): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected a finite number for ${key} but received ${describeValue(v)}`,
    );
  }
  return v;
}

export function optionalEnum<T extends string>(
  options: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
  op: string,
  fallback: T,
): T {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected one of ${allowed.map((a) => `'${a}'`).join(', ')} for ${key} but received ${describeValue(v)}`,
    );
  }
  return v as T;
}

export function positiveInteger(value: unknown, name: string, op: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw rangeError(
      'ERR_INVALID_ARGUMENT',
      `${op}: Expected a positive integer for ${name} but received ${describeValue(value)}`,
    );
  }
  return value;
}

/** Checks a caller-provided output tensor; returns its data from the first element on. */
export function checkOut(
  outIn: unknown,
  shape: readonly number[],
  op: string,
): { out: Tensor<Float32Array>; data: Float32Array } {
  const out = expectTensor(outIn, 'out', ['float32'], op) as Tensor<Float32Array>;
  if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: out has shape ${formatShape(out.shape)} but the result is ${formatShape(shape)}`,
    );
  }
  if (!out.isContiguous()) throw rangeError('ERR_NOT_CONTIGUOUS', `${op}: out must be contiguous`);
  return { out, data: out.offset === 0 ? out.data : out.data.subarray(out.offset) };
}
