/**
 * KVCache: preallocated key/value storage for incremental decoding. Stored as [B, capacity, Hkv, d]
 * (BLHD), so the cached prefix is a strided view the fused kernel reads in place, and appending the
 * projected keys/values of new positions is one native strided copy (no reallocation per step).
 * Each row (sequence) has its own length; asynchronous steps on one cache run in call order (enqueue).
 */
import { constants as bufferConstants } from 'buffer';
import { BlockPool } from './kv-blocks';
import { copyPositions, copyView, FloatTensor } from './kv-copy';
import { describeValue, rangeError, typeError } from './errors';
import { formatShape } from './shape';
import { Tensor } from './tensor';
import { optionKeys } from './option-keys';
export { copyView } from './kv-copy';
import { expectOptions, optionalBoolean, positiveInteger } from './validate';
import { formatBytes, plural } from './wording';

/** The engine's limit on a typed array's length (Buffer's limit is the same one, in elements). */
const MAX_TYPED_ARRAY_LENGTH = bufferConstants.MAX_LENGTH;

export interface KVCacheOptions {
  batch: number;
  numKeyValueHeads: number;
  headDim: number;
  /** Positions it can hold; appending beyond is an ERR_CACHE_FULL error. */
  capacity: number;
  /**
   * Keep the storage in 2 MiB pages where the OS offers them (Tensor.zeros' hugePages): every decode
   * step streams the whole cache, which runs faster without 4 KiB page boundaries. Default true.
   */
  hugePages?: boolean;
  /**
   * Paged storage: rows take blocks of blockSize positions from a pool shared by every row (and by
   * clones, copy-on-write), so rows of different lengths waste no room. Each row still holds at most
   * `capacity` positions; the pool runs out (ERR_CACHE_FULL) when no free block is left.
   */
  blockSize?: number;
  /** Blocks in the pool (paged storage); default enough for every row to reach capacity. */
  blocks?: number;
  /**
   * What the keys and values are stored as: 'float32' (default), or 'bfloat16' / 'float16' (half the
   * memory, and half the bytes each decode step reads): appends round to nearest even as they copy in,
   * and attention reads the 16-bit values directly.
   */
  dtype?: KVCacheDType;
}

export type KVCacheDType = 'float32' | 'bfloat16' | 'float16';

/** Zeroed storage of `shape` in `dtype`; a 16-bit one shares the (huge-page) buffer of a Float32Array. */
function zerosOf(shape: readonly number[], dtype: KVCacheDType, hugePages: boolean): FloatTensor {
  if (dtype === 'float32') return Tensor.zeros(shape, { hugePages });
  const n = shape.reduce((a, d) => a * d, 1);
  const words = Tensor.zeros([Math.ceil(n / 2)], { hugePages }).data;
  return new Tensor(new Uint16Array(words.buffer, words.byteOffset, n), shape, { dtype });
}

const KV_CACHE_OPTION_KEYS = optionKeys<KVCacheOptions>({
  batch: true,
  numKeyValueHeads: true,
  headDim: true,
  capacity: true,
  hugePages: true,
  blockSize: true,
  blocks: true,
  dtype: true,
});

export class KVCache {
  readonly batch: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly capacity: number;
  /** The stored dtype of keys and values (KVCacheOptions.dtype). */
  readonly dtype: KVCacheDType;
  /**
   * [batch, capacity, numKeyValueHeads, headDim]; positions >= a row's length are unused. Paged:
   * [blocks, blockSize, numKeyValueHeads, headDim], row r's position j in block blockTables[r][j / blockSize].
   */
  readonly keyStorage: FloatTensor;
  readonly valueStorage: FloatTensor;
  private readonly hugePages: boolean;
  /** Paged storage: the shared pool, and each row's blocks [batch, blocksPerRow] (0 past its length). */
  private readonly pool: BlockPool | null;
  private readonly tables: Int32Array;
  readonly blocksPerRow: number;
  /** Positions cached so far, per row. */
  private readonly used: Int32Array;
  /** Asynchronous steps queued or running; each starts once the one before it has settled. */
  private pending = 0;
  private tail: Promise<void> = Promise.resolve();
  /** Native jobs of the running step: the cache stays busy until they settle too. */
  private holds: Promise<unknown>[] = [];
  /** reorder's bookkeeping, kept so that a reorder per decode step allocates nothing. */
  private readonly moveSource: Int32Array;
  private readonly moveReaders: Int32Array;
  private readonly nextLengths: Int32Array;
  private scratchRow: { keys: FloatTensor; values: FloatTensor } | null = null;

  constructor(options: KVCacheOptions) {
    const op = 'KVCache';
    if (typeof options !== 'object' || options === null)
      throw rangeError('ERR_INVALID_ARGUMENT', `${op}: Expected an options object`);
    const o = expectOptions(options, op, KV_CACHE_OPTION_KEYS);
    this.batch = positiveInteger(o.batch, 'batch', op);
    this.numKeyValueHeads = positiveInteger(o.numKeyValueHeads, 'numKeyValueHeads', op);
    this.headDim = positiveInteger(o.headDim, 'headDim', op);
    this.capacity = positiveInteger(o.capacity, 'capacity', op);
    const hugePages = optionalBoolean(o, 'hugePages', op, true);
    const dtype = o.dtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'bfloat16' && dtype !== 'float16') {
      throw rangeError(
        'ERR_INVALID_OPTION',
        `${op}: dtype must be 'float32', 'bfloat16' or 'float16' but is ${describeValue(dtype)}`,
      );
    }
    this.dtype = dtype;
    const bytesPerElement = dtype === 'float32' ? 4 : 2;
    this.hugePages = hugePages;
    const blockSize = o.blockSize === undefined ? 0 : positiveInteger(o.blockSize, 'blockSize', op);
    if (blockSize === 0 && o.blocks !== undefined)
      throw rangeError('ERR_INVALID_OPTION', `${op}: blocks needs blockSize (paged storage)`);
    this.blocksPerRow = blockSize > 0 ? Math.ceil(this.capacity / blockSize) : 0;
    const blocks = o.blocks === undefined ? this.batch * this.blocksPerRow : positiveInteger(o.blocks, 'blocks', op);
    const shape =
      blockSize > 0
        ? [blocks, blockSize, this.numKeyValueHeads, this.headDim]
        : [this.batch, this.capacity, this.numKeyValueHeads, this.headDim];
    const elements = shape.reduce((n, d) => n * d, 1);
    const tooLarge = (reason: string) =>
      rangeError(
        'ERR_SIZE_OVERFLOW',
        `${op}: ${formatBytes(2 * elements * bytesPerElement)} for keys and values ` +
          `(2 x ${formatShape(shape)} ${dtype}) cannot be allocated: ${reason}`,
      );
    if (elements > MAX_TYPED_ARRAY_LENGTH) {
      throw tooLarge(`each is ${elements} elements, above the ${MAX_TYPED_ARRAY_LENGTH} a typed array may hold`);
    }
    try {
      this.keyStorage = zerosOf(shape, dtype, hugePages);
      this.valueStorage = zerosOf(shape, dtype, hugePages);
    } catch (e) {
      if (e instanceof RangeError) throw tooLarge('out of memory');
      throw e;
    }
    this.pool = blockSize > 0 ? new BlockPool(this.keyStorage, this.valueStorage) : null;
    this.tables = new Int32Array(this.batch * this.blocksPerRow);
    this.used = new Int32Array(this.batch);
    this.moveSource = new Int32Array(this.batch);
    this.moveReaders = new Int32Array(this.batch);
    this.nextLengths = new Int32Array(this.batch);
  }

  /**
   * Positions cached so far, when every row holds the same number; rows of different lengths throw
   * ERR_CACHE_RAGGED (no one number would be right for every row: read `lengths`).
   */
  get length(): number {
    const n = this.used[0];
    for (let r = 1; r < this.batch; ++r) {
      if (this.used[r] !== n) {
        throw rangeError(
          'ERR_CACHE_RAGGED',
          `KVCache.length: the rows hold different numbers of positions (${this.used.join(', ')}); read lengths`,
        );
      }
    }
    return n;
  }

  /** Positions cached so far in each row (a copy). */
  get lengths(): Int32Array {
    return this.used.slice();
  }

  /** @internal Positions cached so far in row `row`, without copying the lengths. */
  rowLength(row: number): number {
    return this.used[row];
  }

  /** Forgets every cached position of `row`, or of every row (the storage is kept). */
  reset(row?: number): void {
    const op = 'KVCache.reset';
    this.refuseWhileBusy(op);
    if (row === undefined) this.setLengths(0, -1);
    else this.setLengths(0, this.rowIndex(row, op));
  }

  /** Keeps the first `length` positions of `row`, or of every row; a row holding fewer is an error. */
  crop(length: number, row?: number): void {
    const op = 'KVCache.crop';
    this.refuseWhileBusy(op);
    const r = row === undefined ? -1 : this.rowIndex(row, op);
    const longest = r < 0 ? Math.min(...this.used) : this.used[r];
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > longest) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: length must be an integer in [0, ${longest}] (${r < 0 ? 'the shortest row' : `row ${r}`} holds ` +
          `${longest}) but is ${describeValue(length)}`,
      );
    }
    this.setLengths(length, r);
  }

  /** Row r (every row when r < 0) keeps its first `length` positions; paged rows free the blocks past them. */
  private setLengths(length: number, r: number): void {
    for (let row = r < 0 ? 0 : r; row < (r < 0 ? this.batch : r + 1); ++row) {
      if (this.pool) {
        const keep = Math.ceil(length / this.pool.blockSize);
        const held = this.heldBlocks(row);
        for (let c = keep; c < held; ++c) {
          this.pool.release(this.tables[row * this.blocksPerRow + c]);
          this.tables[row * this.blocksPerRow + c] = 0;
        }
      }
      this.used[row] = length;
    }
  }

  private heldBlocks(row: number): number {
    return this.pool ? Math.ceil(this.used[row] / this.pool.blockSize) : 0;
  }

  /** Paged storage: row i's blocks; rows take each other's blocks without copying (shared until written). */
  private reorderTables(indices: Int32Array | readonly number[]): void {
    const pool = this.pool as BlockPool;
    const W = this.blocksPerRow;
    const next = new Int32Array(this.tables.length);
    for (let i = 0; i < this.batch; ++i) {
      const from = indices[i];
      const held = this.heldBlocks(from);
      for (let c = 0; c < held; ++c) {
        next[i * W + c] = this.tables[from * W + c];
        pool.retain(next[i * W + c]);
      }
      this.nextLengths[i] = this.used[from];
    }
    for (let row = 0; row < this.batch; ++row) this.setLengths(0, row);
    this.tables.set(next);
    this.used.set(this.nextLengths);
  }

  /** Paged storage: row r's block table, [blocksPerRow] (a copy; entries past its length are 0). */
  blockTable(row: number): Int32Array {
    const r = this.rowIndex(row, 'KVCache.blockTable');
    return this.tables.slice(r * this.blocksPerRow, (r + 1) * this.blocksPerRow);
  }

  /** Free blocks in the pool (paged storage), or 0. */
  get freeBlocks(): number {
    return this.pool ? this.pool.available : 0;
  }

  /** Whether the storage is paged (blockSize). */
  get paged(): boolean {
    return this.pool !== null;
  }

  /**
   * @internal The block tables as an int32 [batch, n] view of the live tables (attention's blockTable),
   * n the blocks that hold `positions` positions.
   */
  blockTableView(positions: number): Tensor<Int32Array> {
    const pool = this.pool as BlockPool;
    const n = Math.max(1, Math.ceil(positions / pool.blockSize));
    return new Tensor(this.tables, [this.batch, this.blocksPerRow]).narrow(1, 0, n);
  }

  /**
   * Row i takes what row indices[i] held (beam search: indices may repeat). Moves only the cached
   * positions of the rows that change, through one scratch row when the moves form a cycle.
   */
  reorder(indices: Int32Array | readonly number[]): void {
    const op = 'KVCache.reorder';
    this.refuseWhileBusy(op);
    if (!(indices instanceof Int32Array) && !Array.isArray(indices)) {
      throw typeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: Expected an Int32Array or number[] of ${this.batch} row indices but received ${describeValue(indices)}`,
      );
    }
    if (indices.length !== this.batch) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `${op}: indices has ${plural(indices.length, 'entry', 'entries')} but the cache has ${plural(this.batch, 'row')}`,
      );
    }
    for (let i = 0; i < this.batch; ++i) this.rowIndex(indices[i], op, `indices[${i}]`);
    if (this.pool) return this.reorderTables(indices);
    const source = this.moveSource,
      readers = this.moveReaders;
    readers.fill(0);
    for (let i = 0; i < this.batch; ++i) {
      source[i] = indices[i];
      this.nextLengths[i] = this.used[indices[i]];
      if (source[i] !== i) readers[source[i]] += 1;
    }
    // A row is written once no pending move still reads it; a cycle is broken by parking one row
    // in the scratch row (source -1).
    let scratchLength = 0;
    for (;;) {
      let progressed = false;
      for (let i = 0; i < this.batch; ++i) {
        const from = source[i];
        if (from === i || readers[i] !== 0) continue;
        this.moveRow(from, i, from < 0 ? scratchLength : this.used[from]);
        source[i] = i;
        if (from >= 0) readers[from] -= 1;
        progressed = true;
      }
      if (progressed) continue;
      const parked = source.findIndex((from, i) => from !== i);
      if (parked < 0) break;
      scratchLength = this.used[parked];
      this.moveRow(parked, -1, scratchLength);
      for (let i = 0; i < this.batch; ++i) {
        if (source[i] === parked && i !== parked) {
          source[i] = -1;
          readers[parked] -= 1;
        }
      }
    }
    this.used.set(this.nextLengths);
  }

  /** A new cache with the same shape and options holding a copy of the cached positions. */
  clone(): KVCache {
    this.refuseWhileBusy('KVCache.clone');
    if (this.pool) return this.sharingClone(this.pool);
    const copy = new KVCache({
      batch: this.batch,
      numKeyValueHeads: this.numKeyValueHeads,
      headDim: this.headDim,
      capacity: this.capacity,
      hugePages: this.hugePages,
      dtype: this.dtype,
    });
    const n = Math.max(...this.used);
    if (n > 0) {
      copyView(this.keyStorage.narrow(1, 0, n), copy.keyStorage.narrow(1, 0, n));
      copyView(this.valueStorage.narrow(1, 0, n), copy.valueStorage.narrow(1, 0, n));
    }
    copy.used.set(this.used);
    return copy;
  }

  /** Paged storage: a cache over the same pool whose rows share this one's blocks until either writes. */
  private sharingClone(pool: BlockPool): KVCache {
    const copy = Object.create(KVCache.prototype) as KVCache;
    Object.assign(copy, {
      batch: this.batch,
      numKeyValueHeads: this.numKeyValueHeads,
      headDim: this.headDim,
      capacity: this.capacity,
      dtype: this.dtype,
      keyStorage: this.keyStorage,
      valueStorage: this.valueStorage,
      hugePages: this.hugePages,
      pool,
      tables: this.tables.slice(),
      blocksPerRow: this.blocksPerRow,
      used: this.used.slice(),
      pending: 0,
      tail: Promise.resolve(),
      holds: [],
      moveSource: new Int32Array(this.batch),
      moveReaders: new Int32Array(this.batch),
      nextLengths: new Int32Array(this.batch),
      scratchRow: null,
    });
    for (let r = 0; r < this.batch; ++r)
      for (let c = 0; c < this.heldBlocks(r); ++c) pool.retain(this.tables[r * this.blocksPerRow + c]);
    return copy;
  }

  /** Whether an asynchronous forward step is queued on or writing this cache now. */
  get busy(): boolean {
    return this.pending > 0;
  }

  /** @internal Resolves once every asynchronous step queued so far has settled (succeeded or not). */
  idle(): Promise<unknown> {
    return this.tail;
  }

  /** @internal Refuses (ERR_CACHE_BUSY) what would race with the asynchronous steps queued on this cache. */
  refuseWhileBusy(op: string): void {
    if (this.pending > 0) {
      throw rangeError(
        'ERR_CACHE_BUSY',
        `${op}: an asynchronous forward step is still queued on or writing this cache; await it first`,
      );
    }
  }

  /**
   * @internal Runs `step` once every step enqueued before it has settled, and counts the cache busy
   * until it and the native jobs it holds (hold) have settled: steps take effect in call order.
   */
  enqueue<T>(step: () => Promise<T>): Promise<T> {
    // An idle cache starts the step now, so that it is under way before this call returns.
    const idle = this.pending === 0;
    const start = this.tail;
    let release: () => void = () => undefined;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    this.pending += 1;
    const done = () => {
      const holds = this.holds;
      this.holds = [];
      void Promise.allSettled(holds).then(() => {
        this.pending -= 1;
        release();
      });
    };
    return (idle ? step() : start.then(step)).finally(done);
  }

  /**
   * @internal Counts `n` positions written at the end of every row, or of `rows`, by a step that
   * checked they fit.
   */
  advance(n: number, rows?: Int32Array): void {
    if (rows === undefined) for (let r = 0; r < this.batch; ++r) this.used[r] += n;
    else for (let b = 0; b < rows.length; ++b) this.used[rows[b]] += n;
  }

  /**
   * @internal Every row, or each of `rows`, gives back its last `n` positions (a step that counted
   * them did not write them); paged rows free the blocks past what they keep.
   */
  giveBack(n: number, rows?: Int32Array): void {
    const count = rows === undefined ? this.batch : rows.length;
    for (let b = 0; b < count; ++b) {
      const r = rows === undefined ? b : rows[b];
      this.setLengths(this.used[r] - n, r);
    }
  }

  /**
   * @internal Paged storage: gives every row (or each of `rows`) the blocks its next `n` positions
   * go into, copying a shared part-filled last block first, as an append does, without writing them.
   * The caller has checked the room (checkRoom).
   */
  reserveBlocks(n: number, rows?: Int32Array): void {
    const pool = this.pool as BlockPool;
    const P = pool.blockSize;
    const count = rows === undefined ? this.batch : rows.length;
    for (let b = 0; b < count; ++b) {
      const r = rows === undefined ? b : rows[b];
      for (let at = this.used[r], end = at + n; at < end; at += P - (at % P)) {
        const slot = r * this.blocksPerRow + Math.floor(at / P);
        if (at % P === 0) this.tables[slot] = pool.take();
        else if (pool.shared(this.tables[slot])) this.tables[slot] = pool.copyOnWrite(this.tables[slot], at % P);
      }
    }
  }

  /** @internal Paged storage: the live block tables [batch, blocksPerRow] and the pool's size. */
  pagedLayout(): { tables: Int32Array; blockSize: number; blocks: number } {
    const pool = this.pool as BlockPool;
    return { tables: this.tables, blockSize: pool.blockSize, blocks: pool.blocks };
  }

  /**
   * @internal Keeps the cache busy until `job` (a native job of the running step) settles; if it fails,
   * every row (or each of `rows`) gives back `giveBack` positions (the step's advance).
   */
  hold(job: Promise<unknown>, giveBack = 0, rows?: Int32Array): void {
    this.holds.push(job.then(undefined, () => this.giveBack(giveBack, rows)));
  }

  /**
   * The cached keys as a [B, length, Hkv, d] view (no copy), or row `row`'s as [1, lengths[row], Hkv, d];
   * with paged storage, a copy gathered from the blocks.
   */
  keys(row?: number): FloatTensor {
    return this.cached(this.keyStorage, row, 'KVCache.keys');
  }

  values(row?: number): FloatTensor {
    return this.cached(this.valueStorage, row, 'KVCache.values');
  }

  /**
   * Appends new positions to every row: keys and values [B, Lnew, Hkv, d] (views welcome), each row
   * at its own length. Checks everything before writing anything, so a refused append leaves the cache as it was.
   */
  append(keys: Tensor<Float32Array>, values: Tensor<Float32Array>): void {
    this.refuseWhileBusy('KVCache.append');
    this.store(keys, values);
  }

  /**
   * @internal append without the busy check, for the MultiHeadAttention step that holds the cache;
   * `rows` names the cache row of each batch item of keys and values (default all rows in order), and
   * `counts` how many of its first positions each appends (default all).
   */
  store(keys: Tensor<Float32Array>, values: Tensor<Float32Array>, rows?: Int32Array, counts?: Int32Array): void {
    const B = rows === undefined ? this.batch : rows.length;
    const want = (n: number) => [B, n, this.numKeyValueHeads, this.headDim];
    const n = keys.shape[1];
    for (const [t, name] of [
      [keys, 'keys'],
      [values, 'values'],
    ] as const) {
      const w = want(t.shape[1] ?? 0);
      if (t.rank !== 4 || t.shape.some((d, i) => d !== w[i]) || t.shape[1] !== n) {
        throw rangeError(
          'ERR_SHAPE_MISMATCH',
          `KVCache.append: ${name} must be ${formatShape(want(n))} but has shape ${formatShape(t.shape)}`,
        );
      }
    }
    this.checkRoom(counts ?? n, rows, 'KVCache.append');
    if (this.pool) return this.storePaged(this.pool, keys, values, rows, counts);
    const first = this.used[0];
    if (rows === undefined && counts === undefined && this.used.every((m) => m === first)) {
      copyView(keys, this.keyStorage.narrow(1, first, n));
      copyView(values, this.valueStorage.narrow(1, first, n));
      this.used.fill(first + n);
      return;
    }
    for (let b = 0; b < B; ++b) {
      const r = rows === undefined ? b : rows[b];
      const m = counts === undefined ? n : counts[b];
      if (m === 0) continue;
      const at = (t: FloatTensor) => t.offset + r * t.strides[0] + this.used[r] * t.strides[1];
      copyPositions(keys, keys.offset + b * keys.strides[0], this.keyStorage, at(this.keyStorage), m);
      copyPositions(values, values.offset + b * values.strides[0], this.valueStorage, at(this.valueStorage), m);
      this.used[r] += m;
    }
  }

  /**
   * @internal Refuses (ERR_CACHE_FULL) new positions that do not fit in `rows` (default every row):
   * `counts` of them, the same number for every row or one per row.
   */
  checkRoom(counts: number | Int32Array, rows: Int32Array | undefined, op: string): void {
    const count = rows === undefined ? this.batch : rows.length;
    for (let b = 0; b < count; ++b) {
      const r = rows === undefined ? b : rows[b];
      const n = typeof counts === 'number' ? counts : counts[b];
      if (this.used[r] + n > this.capacity) {
        throw rangeError(
          'ERR_CACHE_FULL',
          `${op}: ${plural(n, 'new position')} ${n === 1 ? 'does' : 'do'} not fit` +
            `${this.batch === 1 ? '' : ` in cache row ${r}`}: ` +
            `${this.used[r]} of ${this.capacity} are used`,
        );
      }
    }
    if (this.pool) {
      const need = this.blocksNeeded(counts, rows);
      if (need > this.pool.available) {
        throw rangeError(
          'ERR_CACHE_FULL',
          `${op}: the new positions need ${plural(need, 'block')} of ${this.pool.blockSize} positions ` +
            `but the pool has ${plural(this.pool.available, 'free block')} (of ${this.pool.blocks})`,
        );
      }
    }
  }

  /** Paged append: each row's positions go into its last block (copied first when shared), then new ones. */
  private storePaged(
    pool: BlockPool,
    keys: Tensor<Float32Array>,
    values: Tensor<Float32Array>,
    rows: Int32Array | undefined,
    counts: Int32Array | undefined,
  ): void {
    const P = pool.blockSize;
    const B = rows === undefined ? this.batch : rows.length;
    for (let b = 0; b < B; ++b) {
      const r = rows === undefined ? b : rows[b];
      const m = counts === undefined ? keys.shape[1] : counts[b];
      for (let done = 0; done < m;) {
        const at = this.used[r];
        const c = Math.floor(at / P),
          within = at % P;
        const slot = r * this.blocksPerRow + c;
        if (within === 0) this.tables[slot] = pool.take();
        else if (pool.shared(this.tables[slot])) this.tables[slot] = pool.copyOnWrite(this.tables[slot], within);
        const n = Math.min(m - done, P - within);
        const into = (t: FloatTensor) => t.offset + this.tables[slot] * t.strides[0] + within * t.strides[1];
        const from = (t: FloatTensor) => t.offset + b * t.strides[0] + done * t.strides[1];
        copyPositions(keys, from(keys), this.keyStorage, into(this.keyStorage), n);
        copyPositions(values, from(values), this.valueStorage, into(this.valueStorage), n);
        this.used[r] += n;
        done += n;
      }
    }
  }

  /** Blocks an append of counts[b] positions to rows[b] takes from the pool (new ones and copies). */
  private blocksNeeded(counts: number | Int32Array, rows: Int32Array | undefined): number {
    const pool = this.pool as BlockPool;
    const P = pool.blockSize;
    let need = 0;
    // Writers into each shared part-filled block: all but the last holder to write copy it.
    const writers = new Map<number, number>();
    const count = rows === undefined ? this.batch : rows.length;
    for (let b = 0; b < count; ++b) {
      const r = rows === undefined ? b : rows[b];
      const n = typeof counts === 'number' ? counts : counts[b];
      if (n === 0) continue;
      need += Math.ceil((this.used[r] + n) / P) - Math.ceil(this.used[r] / P);
      const last = this.tables[r * this.blocksPerRow + Math.floor(this.used[r] / P)];
      if (this.used[r] % P !== 0 && pool.shared(last)) writers.set(last, (writers.get(last) ?? 0) + 1);
    }
    writers.forEach((k, block) => (need += k === pool.holders(block) ? k - 1 : k));
    return need;
  }

  /** Checks a row number against the batch. */
  private rowIndex(row: unknown, op: string, name = 'row'): number {
    if (typeof row !== 'number' || !Number.isInteger(row) || row < 0 || row >= this.batch) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `${op}: ${name} must be an integer in [0, ${this.batch}) but is ${describeValue(row)}`,
      );
    }
    return row;
  }

  private cached(storage: FloatTensor, row: number | undefined, op: string): FloatTensor {
    if (this.pool) return this.gathered(this.pool, storage, row, op);
    if (row === undefined) return storage.narrow(1, 0, this.length);
    const r = this.rowIndex(row, op);
    return storage.narrow(0, r, 1).narrow(1, 0, this.used[r]);
  }

  /** Paged storage: the cached positions gathered from their blocks into a new tensor (a copy). */
  private gathered(pool: BlockPool, storage: FloatTensor, row: number | undefined, op: string): FloatTensor {
    const rowsOf = row === undefined ? [...Array(this.batch).keys()] : [this.rowIndex(row, op)];
    const n = row === undefined ? this.length : this.used[rowsOf[0]];
    const out = zerosOf([rowsOf.length, n, this.numKeyValueHeads, this.headDim], this.dtype, false);
    const P = pool.blockSize;
    rowsOf.forEach((r, i) => {
      for (let j = 0; j < n; j += P) {
        const m = Math.min(P, n - j);
        const block = this.tables[r * this.blocksPerRow + j / P];
        copyView(storage.narrow(0, block, 1).narrow(1, 0, m), out.narrow(0, i, 1).narrow(1, j, m));
      }
    });
    return out;
  }

  /** Copies the first n positions of row `from` to row `to`; -1 is the scratch row. */
  private moveRow(from: number, to: number, n: number): void {
    if (n === 0) return;
    if (this.scratchRow === null) {
      const shape = [1, this.capacity, this.numKeyValueHeads, this.headDim];
      this.scratchRow = { keys: zerosOf(shape, this.dtype, false), values: zerosOf(shape, this.dtype, false) };
    }
    const scratch = this.scratchRow;
    const rowOf = (t: FloatTensor, r: number, s: FloatTensor): FloatTensor =>
      (r < 0 ? s : t.narrow(0, r, 1)).narrow(1, 0, n);
    copyView(rowOf(this.keyStorage, from, scratch.keys), rowOf(this.keyStorage, to, scratch.keys));
    copyView(rowOf(this.valueStorage, from, scratch.values), rowOf(this.valueStorage, to, scratch.values));
  }
}
