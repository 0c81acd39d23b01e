/**
 * KVCache: preallocated key/value storage for incremental decoding. Stored as [B, capacity, Hkv, d]
 * (BLHD), so the cached prefix is a strided view the fused kernel reads in place, and appending the
 * projected keys/values of new positions is one native strided copy (no reallocation per step).
 */
import { constants as bufferConstants } from 'buffer';
import { native } from './binding';
import { COPY_STRIDED, descriptorFor } from './native-layout';
import { rangeError } from './errors';
import { formatShape } from './shape';
import { Tensor } from './tensor';
import { optionKeys } from './option-keys';
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
}

const KV_CACHE_OPTION_KEYS = optionKeys<KVCacheOptions>({
  batch: true,
  numKeyValueHeads: true,
  headDim: true,
  capacity: true,
  hugePages: true,
});

/** Copies a view of rank <= 4 into another of the same shape (dst's last dimension contiguous). */
export function copyView(srcView: Tensor<Float32Array>, dst: Tensor<Float32Array>): void {
  if (srcView.rank > 4) throw rangeError('ERR_INVALID_SHAPE', `copyView: rank ${srcView.rank} is above 4`);
  // The native copy moves whole rows: a source whose rows are strided is gathered first.
  const last = srcView.rank - 1;
  const src = srcView.strides[last] === 1 || srcView.shape[last] <= 1 ? srcView : srcView.contiguous();
  const F = COPY_STRIDED.fields;
  const d = descriptorFor(COPY_STRIDED);
  // Right-aligned to rank 4: the missing leading dimensions are 1 (their strides stay 0).
  const pad = 4 - src.rank;
  const dims = [F.dim0, F.dim1, F.dim2, F.dim3];
  const srcStrides = [F.srcStride0, F.srcStride1, F.srcStride2];
  const dstStrides = [F.dstStride0, F.dstStride1, F.dstStride2];
  for (let i = 0; i < 4; ++i) d[dims[i]] = i < pad ? 1 : src.shape[i - pad];
  for (let i = pad; i < 3; ++i) {
    d[srcStrides[i]] = src.strides[i - pad];
    d[dstStrides[i]] = dst.strides[i - pad];
  }
  d[F.srcOffset] = src.offset;
  d[F.dstOffset] = dst.offset;
  native().copyStrided({ src: src.data, dst: dst.data }, d);
}

export class KVCache {
  readonly batch: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly capacity: number;
  /** [batch, capacity, numKeyValueHeads, headDim]; positions >= length are unused. */
  readonly keyStorage: Tensor<Float32Array>;
  readonly valueStorage: Tensor<Float32Array>;
  private used = 0;
  /** The asynchronous step writing this cache (MultiHeadAttention.forward), while it runs. */
  private inFlight: Promise<unknown> | null = null;

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
    const shape = [this.batch, this.capacity, this.numKeyValueHeads, this.headDim];
    const storage = { hugePages };
    const elements = shape.reduce((n, d) => n * d, 1);
    const tooLarge = (reason: string) =>
      rangeError(
        'ERR_SIZE_OVERFLOW',
        `${op}: ${formatBytes(2 * elements * Float32Array.BYTES_PER_ELEMENT)} for keys and values ` +
          `(2 x ${formatShape(shape)} float32) cannot be allocated: ${reason}`,
      );
    if (elements > MAX_TYPED_ARRAY_LENGTH) {
      throw tooLarge(`each is ${elements} elements, above the ${MAX_TYPED_ARRAY_LENGTH} a typed array may hold`);
    }
    try {
      this.keyStorage = Tensor.zeros(shape, storage);
      this.valueStorage = Tensor.zeros(shape, storage);
    } catch (e) {
      if (e instanceof RangeError) throw tooLarge('out of memory');
      throw e;
    }
  }

  /** Positions cached so far. */
  get length(): number {
    return this.used;
  }

  /** Forgets every cached position (the storage is kept). */
  reset(): void {
    this.refuseWhileBusy('KVCache.reset');
    this.used = 0;
  }

  /** Whether an asynchronous forward step is writing this cache now. */
  get busy(): boolean {
    return this.inFlight !== null;
  }

  /** @internal Resolves once the asynchronous step writing this cache now has settled (succeeded or not). */
  idle(): Promise<unknown> {
    return this.inFlight === null ? Promise.resolve() : this.inFlight.then(undefined, () => undefined);
  }

  /** @internal Refuses (ERR_CACHE_BUSY) what would race with the asynchronous step writing this cache. */
  refuseWhileBusy(op: string): void {
    if (this.inFlight !== null) {
      throw rangeError(
        'ERR_CACHE_BUSY',
        `${op}: an asynchronous forward step is still writing this cache; await it first`,
      );
    }
  }

  /** @internal Counts `n` positions written at `length` by a MultiHeadAttention step, which checked they fit. */
  advance(n: number): void {
    this.used += n;
  }

  /**
   * @internal Marks the cache busy until `step` (an asynchronous MultiHeadAttention step) settles: later steps
   * wait for it, synchronous ones are refused. A step that fails gives back `reserved` positions.
   */
  hold(step: Promise<unknown>, reserved = 0): void {
    this.inFlight = step;
    step.then(
      () => this.settle(step, 0),
      () => this.settle(step, reserved),
    );
  }

  private settle(step: Promise<unknown>, giveBack: number): void {
    if (this.inFlight !== step) return;
    this.inFlight = null;
    this.used -= giveBack;
  }

  /** The cached keys as a [B, length, Hkv, d] view (no copy). */
  keys(): Tensor<Float32Array> {
    return this.keyStorage.narrow(1, 0, this.used);
  }

  values(): Tensor<Float32Array> {
    return this.valueStorage.narrow(1, 0, this.used);
  }

  /**
   * Appends new positions: keys and values [B, Lnew, Hkv, d] (views welcome). Checks everything
   * before writing anything, so a refused append leaves the cache as it was.
   */
  append(keys: Tensor<Float32Array>, values: Tensor<Float32Array>): void {
    this.refuseWhileBusy('KVCache.append');
    this.store(keys, values);
  }

  /** @internal append without the busy check: for the MultiHeadAttention step that holds the cache. */
  store(keys: Tensor<Float32Array>, values: Tensor<Float32Array>): void {
    const want = (n: number) => [this.batch, n, this.numKeyValueHeads, this.headDim];
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
    if (this.used + n > this.capacity) {
      throw rangeError(
        'ERR_CACHE_FULL',
        `KVCache.append: ${plural(n, 'new position')} ${n === 1 ? 'does' : 'do'} not fit: ` +
          `${this.used} of ${this.capacity} are used`,
      );
    }
    copyView(keys, this.keyStorage.narrow(1, this.used, n));
    copyView(values, this.valueStorage.narrow(1, this.used, n));
    this.used += n;
  }
}
