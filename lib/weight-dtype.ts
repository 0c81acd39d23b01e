/** The dtype a module keeps its projection weights in, and the load option that picks it. */
import { describeValue, typeError } from './errors';
import type { LoadStateDictOptions } from './state-dict-options';

export type WeightDtype = 'float32' | 'bfloat16';

export interface WeightDtypeOption {
  /**
   * Keep the projection weights in this dtype: 'bfloat16' rounds float32 and float16 weights to
   * bfloat16 (nearest even) and keeps BF16 ones as they are; 'float32' widens half-precision ones.
   * Default: the module's current dtype (float32 until `to('bfloat16')`). Biases stay float32.
   */
  dtype?: WeightDtype;
}

export type WeightLoadOptions = LoadStateDictOptions & WeightDtypeOption;

/** `value` checked; undefined gives `fallback`, or is refused without one. */
export function weightDtypeOf(value: unknown, fallback: WeightDtype | null, op: string): WeightDtype {
  if (value === undefined && fallback !== null) return fallback;
  if (value === 'float32' || value === 'bfloat16') return value;
  throw typeError(
    'ERR_INVALID_OPTION',
    `${op}: Expected 'float32' or 'bfloat16' for dtype but received ${describeValue(value)}`,
  );
}
