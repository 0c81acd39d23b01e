/**
 * The block pool of a paged KVCache: keys and values [blocks, blockSize, Hkv, d] shared by every row
 * (and by clones), a reference count per block and a free list. A block held by more than one row is
 * copied before a row writes into it (copy-on-write).
 */
import { copyView, FloatTensor } from './kv-copy';

export class BlockPool {
  readonly keyStorage: FloatTensor;
  readonly valueStorage: FloatTensor;
  readonly blockSize: number;
  readonly blocks: number;
  private readonly refs: Int32Array;
  private readonly free: Int32Array;
  private freeCount: number;

  constructor(keyStorage: FloatTensor, valueStorage: FloatTensor) {
    this.keyStorage = keyStorage;
    this.valueStorage = valueStorage;
    this.blocks = keyStorage.shape[0];
    this.blockSize = keyStorage.shape[1];
    this.refs = new Int32Array(this.blocks);
    this.free = new Int32Array(this.blocks);
    // Taken from the end: block 0 first.
    for (let i = 0; i < this.blocks; ++i) this.free[i] = this.blocks - 1 - i;
    this.freeCount = this.blocks;
  }

  get available(): number {
    return this.freeCount;
  }

  shared(block: number): boolean {
    return this.refs[block] > 1;
  }

  /** Rows (of every cache on the pool) holding `block`. */
  holders(block: number): number {
    return this.refs[block];
  }

  /** A free block, now held once; the caller has checked `available`. */
  take(): number {
    const block = this.free[--this.freeCount];
    this.refs[block] = 1;
    return block;
  }

  retain(block: number): void {
    this.refs[block] += 1;
  }

  release(block: number): void {
    if (--this.refs[block] === 0) this.free[this.freeCount++] = block;
  }

  /** A new block holding the first `n` positions of `block` (whose hold the caller gives up). */
  copyOnWrite(block: number, n: number): number {
    const copy = this.take();
    if (n > 0) {
      const rows = (t: FloatTensor, b: number) => t.narrow(0, b, 1).narrow(1, 0, n);
      copyView(rows(this.keyStorage, block), rows(this.keyStorage, copy));
      copyView(rows(this.valueStorage, block), rows(this.valueStorage, copy));
    }
    this.release(block);
    return copy;
  }
}
