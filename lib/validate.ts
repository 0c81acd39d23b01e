/** Argument checks shared by every op: each names the argument and shows what came. */
import type { AbortSignalLike } from './abort';
import { describeValue, rangeError, typeError } from './errors';
import { CallForm, readOptions } from './option-keys';
import { formatShape, numel } from './shape';
import { DType, isTensor, Tensor, TensorData } from './tensor';
import { article } from './wording';

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
      `${op}: Expected ${listOr(dtypes)} for ${name} ` +
        `but received ${article(value.dtype)} tensor of shape ${formatShape(value.shape)}`,
    );
  }
  checkViewInBounds(value, name, op);
  return value;
}

/**
 * A weight: a float32 tensor as it is, a bfloat16 or float16 one (an F16 or BF16 safetensors file)
 * widened to float32 once, at load.
 */
export function expectWeight(value: unknown, name: string, op: string): Tensor<Float32Array> {
  return expectTensor(value, name, ['float32', 'bfloat16', 'float16'], op).to('float32');
}

/** "a", "a or b", "a, b or c". */
function listOr(words: readonly string[]): string {
  return words.length <= 2 ? words.join(' or ') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
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

/**
 * Checks `op`'s options argument against its interface's keys (option-keys.ts): an unknown key is
 * refused, with the nearest valid one. `form` is given for ops with a Sync and a Promise form.
 */
export function expectOptions(
  value: unknown,
  op: string,
  allowed: readonly string[],
  form?: CallForm,
): Record<string, unknown> {
  if (isTensor(value)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected an options object but received a Tensor of shape ${formatShape(value.shape)}`,
    );
  }
  return readOptions(value, op, allowed, form);
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
/** The signal of an options argument that expectOptions has already checked (null or undefined: none). */
export function signalOf(options: unknown, op: string): AbortSignalLike | undefined {
  return options === undefined || options === null ? undefined : optionalSignal(options as Record<string, unknown>, op);
}

export function optionalSignal(options: Record<string, unknown>, op: string): AbortSignalLike | undefined {
  const v = options.signal;
  if (v === undefined) return undefined;
  // Duck-typed, as Node does: an AbortSignal from another realm (a vm context) is one too.
  const s = v as Partial<AbortSignalLike> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function' ||
    typeof s.removeEventListener !== 'function'
  ) {
    throw typeError('ERR_INVALID_OPTION', `${op}: Expected an AbortSignal for signal but received ${describeValue(v)}`);
  }
  return v as AbortSignalLike;
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

/**
 * Checks a caller-provided output tensor; returns its data from the first element on. `inputs` are
 * every tensor or typed array the call reads (by argument name; other values are skipped): `out` may
 * share no byte with any of them (see refuseOverlap).
 */
export function checkOut(
  outIn: unknown,
  shape: readonly number[],
  op: string,
  inputs: Readonly<Record<string, unknown>>,
  inPlace?: string,
): { out: Tensor<Float32Array>; data: Float32Array };
export function checkOut(
  outIn: unknown,
  shape: readonly number[],
  op: string,
  inputs: Readonly<Record<string, unknown>>,
  inPlace: string | undefined,
  dtype: 'float32' | 'bfloat16' | 'float16',
): { out: Tensor<Float32Array> | Tensor<Uint16Array>; data: Float32Array | Uint16Array };
export function checkOut(
  outIn: unknown,
  shape: readonly number[],
  op: string,
  inputs: Readonly<Record<string, unknown>>,
  inPlace?: string,
  dtype: 'float32' | 'bfloat16' | 'float16' = 'float32',
): { out: Tensor<Float32Array> | Tensor<Uint16Array>; data: Float32Array | Uint16Array } {
  const out = expectTensor(outIn, 'out', [dtype], op) as Tensor<Float32Array> | Tensor<Uint16Array>;
  checkOutShape(out, shape, op);
  refuseOverlap(out, inputs, op, inPlace);
  return { out, data: out.offset === 0 ? out.data : out.data.subarray(out.offset) };
}

/** An `out` tensor must be contiguous and have the result's shape. */
export function checkOutShape(out: Tensor, shape: readonly number[], op: string): void {
  if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: out has shape ${formatShape(out.shape)} but the result is ${formatShape(shape)}`,
    );
  }
  if (!out.isContiguous()) throw rangeError('ERR_NOT_CONTIGUOUS', `${op}: out must be contiguous`);
}

/** The bytes [start, end) of its buffer that a tensor's elements or a typed array span; null when empty. */
function byteSpan(v: Tensor | ArrayBufferView): { buffer: ArrayBufferLike; start: number; end: number } | null {
  if (!isTensor(v))
    return v.byteLength === 0 ? null : { buffer: v.buffer, start: v.byteOffset, end: v.byteOffset + v.byteLength };
  if (v.size === 0) return null;
  let last = v.offset;
  for (let i = 0; i < v.rank; ++i) last += (v.shape[i] - 1) * v.strides[i];
  const bytes = v.data.BYTES_PER_ELEMENT;
  return {
    buffer: v.data.buffer,
    start: v.data.byteOffset + v.offset * bytes,
    end: v.data.byteOffset + (last + 1) * bytes,
  };
}

/**
 * Refuses an `out` whose bytes overlap those of any input (a kernel would read what it has already
 * overwritten), whatever the views' types; views of one buffer that share no byte are fine. The
 * input named `inPlace`, if any, may be `out` itself exactly (same bytes, contiguous): an elementwise
 * kernel reads each element before writing it.
 */
export function refuseOverlap(
  out: Tensor,
  inputs: Readonly<Record<string, unknown>>,
  op: string,
  inPlace?: string,
): void {
  const o = byteSpan(out);
  if (o === null) return;
  for (const [name, input] of Object.entries(inputs)) {
    if (!isTensor(input) && !ArrayBuffer.isView(input)) continue;
    const s = byteSpan(input);
    if (s === null || s.buffer !== o.buffer || s.end <= o.start || o.end <= s.start) continue;
    if (
      name === inPlace &&
      isTensor(input) &&
      input.isContiguous() &&
      s.start === o.start &&
      s.end === o.end &&
      input.data.BYTES_PER_ELEMENT === out.data.BYTES_PER_ELEMENT
    ) {
      continue;
    }
    const what = isTensor(input) ? `${name} ${formatShape(input.shape)}` : `${name} (${describeValue(input)})`;
    throw rangeError(
      'ERR_OVERLAPPING_OUTPUT',
      `${op}: out ${formatShape(out.shape)} overlaps ${what}: both use bytes [${Math.max(o.start, s.start)}, ` +
        `${Math.min(o.end, s.end)}) of one ${o.buffer.constructor.name}; ` +
        `pass an out that shares no memory with the inputs` +
        (name === inPlace ? ` (or ${name} itself, contiguous, to work in place)` : ''),
    );
  }
}
