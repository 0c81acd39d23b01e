/** What a MultiHeadAttention call reads of a KVCache: its rows, its input lengths, the cached view. */
import { describeValue, rangeError, typeError } from './errors';
import { KVCache } from './kv-cache';
import type { FloatTensor } from './kv-copy';
import { plural } from './wording';

/**
 * The cache rows of a call's batch items, checked: undefined for every row in order (the default
 * when B is the cache's batch), otherwise B distinct rows of the cache.
 */
export function cacheRowsOf(rowsIn: unknown, B: number, cache: KVCache, op: string): Int32Array | undefined {
  if (rowsIn === undefined && B === cache.batch) return undefined;
  if (rowsIn === undefined) return Int32Array.from({ length: B }, (_, i) => i);
  if (!(rowsIn instanceof Int32Array) && !Array.isArray(rowsIn)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected an Int32Array or number[] for cacheRows but received ${describeValue(rowsIn)}`,
    );
  }
  const values = rowsIn as ArrayLike<unknown>;
  if (values.length !== B) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: cacheRows has ${plural(values.length, 'entry', 'entries')} but the query batch is ${B}`,
    );
  }
  const rows = new Int32Array(B);
  let identity = true;
  for (let i = 0; i < B; ++i) {
    const r = values[i];
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= cache.batch) {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: cacheRows[${i}] must be an integer in [0, ${cache.batch}) (the cache's batch) but is ${describeValue(r)}`,
      );
    }
    if (rows.subarray(0, i).includes(r)) {
      throw rangeError('ERR_INVALID_OPTION', `${op}: cacheRows names row ${r} twice; each row may be written once`);
    }
    rows[i] = r;
    identity &&= r === i;
  }
  return identity && B === cache.batch ? undefined : rows;
}

/** inputLengths, checked: one count in [0, L] per batch item of a call whose queries and keys have L positions. */
export function inputLengthsOf(given: unknown, B: number, Lq: number, Lk: number, op: string): Int32Array | undefined {
  if (given === undefined) return undefined;
  if (Lq !== Lk) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: inputLengths needs as many query positions as key positions (${Lq} vs ${Lk})`,
    );
  }
  if (!(given instanceof Int32Array) && !Array.isArray(given)) {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected an Int32Array or number[] for inputLengths but received ${describeValue(given)}`,
    );
  }
  const values = given as ArrayLike<unknown>;
  if (values.length !== B) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: inputLengths has ${plural(values.length, 'entry', 'entries')} but the batch is ${B}`,
    );
  }
  const lengths = new Int32Array(B);
  for (let i = 0; i < B; ++i) {
    const n = values[i];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > Lq) {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: inputLengths[${i}] must be an integer in [0, ${Lq}] but is ${describeValue(n)}`,
      );
    }
    lengths[i] = n;
  }
  return lengths;
}

/**
 * What a call attends over in the cache once its Lk positions are appended: the storage as
 * [cache.batch, Lk', Hkv, d] (Lk' the longest row), and each batch item's key count when the rows differ.
 */
export function cachedView(cache: KVCache, B: number, Lk: number, rows?: Int32Array, inputLengths?: Int32Array) {
  const lengths = cache.lengths;
  const keyLengths = new Int32Array(B);
  let longest = 0;
  for (let b = 0; b < B; ++b) {
    keyLengths[b] = lengths[rows === undefined ? b : rows[b]] + (inputLengths === undefined ? Lk : inputLengths[b]);
    longest = Math.max(longest, keyLengths[b]);
  }
  if (cache.paged) {
    // The blocks and the live tables: the step appends first, the attention reads the tables after.
    return {
      keys: cache.keyStorage,
      values: cache.valueStorage,
      keyLengths,
      longest,
      blockTable: cache.blockTableView(longest),
    };
  }
  const ragged = rows !== undefined || inputLengths !== undefined || keyLengths.some((n) => n !== longest);
  // The views are made when first read: the one-crossing decode step never reads them, and making
  // two tensors is a large part of that step's JavaScript.
  let keys: FloatTensor | undefined, values: FloatTensor | undefined;
  return {
    longest,
    blockTable: undefined,
    get keys(): FloatTensor {
      return (keys ??= cache.keyStorage.narrow(1, 0, longest));
    },
    get values(): FloatTensor {
      return (values ??= cache.valueStorage.narrow(1, 0, longest));
    },
    keyLengths: ragged ? keyLengths : undefined,
  };
}
