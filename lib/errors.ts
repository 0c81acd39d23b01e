/**
 * Typed errors. Every error this package throws for bad input is a TypeError (wrong kind of value:
 * a non-Tensor, a wrong dtype, an option of the wrong type) or a RangeError (wrong value: a shape
 * mismatch, an out-of-range size), with a stable `code` to branch on.
 */
import type { AbortSignalLike } from './abort';
import { article } from './wording';

export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_DTYPE'
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_SHAPE'
  | 'ERR_SHAPE_MISMATCH'
  | 'ERR_SIZE_OVERFLOW'
  | 'ERR_OUT_OF_BOUNDS'
  | 'ERR_NOT_CONTIGUOUS'
  | 'ERR_OVERLAPPING_OUTPUT'
  | 'ERR_DETACHED_BUFFER'
  | 'ERR_MISALIGNED'
  | 'ERR_CACHE_FULL'
  | 'ERR_CACHE_BUSY'
  | 'ERR_CACHE_RAGGED'
  | 'ERR_INVALID_WEIGHTS'
  | 'ERR_INVALID_FILE'
  | 'ERR_UNSUPPORTED_ISA'
  | 'ERR_NATIVE_LOAD';

export class SimdAttentionTypeError extends TypeError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'TypeError';
    this.code = code;
  }
}

export class SimdAttentionRangeError extends RangeError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'RangeError';
    this.code = code;
  }
}

export function typeError(code: ErrorCode, message: string): SimdAttentionTypeError {
  return new SimdAttentionTypeError(code, message);
}

export function rangeError(code: ErrorCode, message: string): SimdAttentionRangeError {
  return new SimdAttentionRangeError(code, message);
}

/**
 * The rejection of a Promise form whose `signal` aborted: what Node's own APIs reject with (check
 * `err.name === 'AbortError'`), the signal's reason as its cause.
 */
export function abortError(signal: AbortSignalLike): Error {
  // Node >= 17 takes (message, { name, cause }); @types/node declares only (message, name). Typed as
  // Error so that the declarations need no DOM library.
  const WithCause = DOMException as unknown as new (message: string, o: { name: string; cause: unknown }) => Error;
  return new WithCause('This operation was aborted', { name: 'AbortError', cause: signal.reason });
}

/** Describes a value for an error message: `-2 of type number`, `a Float64Array`, `null`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value))
    return `${article(value.constructor.name)} of length ${(value as unknown as { length?: number }).length ?? '?'}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  if (typeof value === 'string')
    return `${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)} of type string`;
  return `${String(value)} of type ${typeof value}`;
}
