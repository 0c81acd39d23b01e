/**
 * The blockTable option of attention: keys and values held in blocks of positions (a paged KV cache),
 * checked and laid out for the native kernel.
 */
import { describeValue, rangeError, typeError } from './errors';
import type { Heads } from './head-layout';
import { formatShape } from './shape';
import { isTensor } from './tensor';

export interface PagedKeys {
  /** [rows, width] row-major, contiguous (a copy when the given table is a strided view). */
  table: Int32Array;
  rows: number;
  width: number;
  blockSize: number;
  blocks: number;
}

/** The checked block table, or null without one; kv is the key storage seen as [blocks, Hkv, blockSize, d]. */
export function pagedKeysOf(given: unknown, kv: Heads, fromLogits: boolean, op: string): PagedKeys | null {
  if (given === undefined || given === null) return null;
  if (!isTensor(given) || given.dtype !== 'int32') {
    throw typeError(
      'ERR_INVALID_OPTION',
      `${op}: Expected an int32 Tensor [rows, blocksPerRow] for blockTable but received ${describeValue(given)}`,
    );
  }
  if (given.rank !== 2 || given.shape[1] < 1) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: blockTable must be 2-D [rows, blocksPerRow] with blocksPerRow >= 1 but has shape ${formatShape(given.shape)}`,
    );
  }
  if (fromLogits) throw rangeError('ERR_INVALID_OPTION', `${op}: blockTable does not apply to scores from logits`);
  const table = given.contiguous().data as Int32Array;
  const blocks = kv.batch;
  for (let e = 0; e < table.length; ++e) {
    if (table[e] < 0 || table[e] >= blocks) {
      const width = given.shape[1];
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: blockTable[${Math.floor(e / width)}][${e % width}] must name a block in [0, ${blocks}) ` +
          `(key holds ${blocks} blocks) but is ${table[e]}`,
      );
    }
  }
  return { table, rows: given.shape[0], width: given.shape[1], blockSize: kv.rows, blocks };
}
