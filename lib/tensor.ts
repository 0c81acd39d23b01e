/**
 * Tensor: a typed array seen through a shape (and, for views, strides and an offset). The array
 * given is used where it lies, never copied: Float32Array is `float32`, Int32Array `int32`,
 * Uint8Array `bool` (0 = false, anything else = true), and a Uint16Array holds the bits of
 * `bfloat16` or `float16` values, named by the `dtype` option.
 */
import { convertElements, FloatDType } from './convert';
import { describeValue, rangeError, typeError } from './errors';
import { allocFloat32HugePages } from './huge-pages';
import { optionKeys, readOptions } from './option-keys';
import { allocFloat32, checkShape, contiguousStrides, formatShape, numel } from './shape';
import { flattenNested, NestedBooleans, NestedNumbers } from './nested-array';
import { article, plural } from './wording';

export type DType = 'float32' | 'int32' | 'bool' | 'bfloat16' | 'float16';
export type TensorData = Float32Array | Int32Array | Uint8Array | Uint16Array;
/** An attention mask: bool (a Uint8Array) or float32 (added to the scores). */
export type MaskTensor = Tensor<Uint8Array> | Tensor<Float32Array>;

/** The dtype an array holds; null for a Uint16Array (bfloat16 or float16: it cannot tell) and others. */
export function dtypeOf(data: unknown): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'bool';
  return null;
}

/** The typed array each dtype is stored in. */
const ARRAY_OF_DTYPE: Readonly<Record<DType, string>> = {
  float32: 'Float32Array',
  int32: 'Int32Array',
  bool: 'Uint8Array',
  bfloat16: 'Uint16Array',
  float16: 'Uint16Array',
};

const FLOAT_DTYPES: readonly string[] = ['float32', 'bfloat16', 'float16'];

/** The dtype of `data` given the `dtype` option (required for a Uint16Array, checked otherwise). */
function resolveDtype(data: TensorData, requested: unknown): DType {
  if (requested === undefined) {
    const dtype = dtypeOf(data);
    if (dtype !== null) return dtype;
    throw typeError(
      'ERR_INVALID_DTYPE',
      `Tensor: a Uint16Array may hold bfloat16 or float16 values; ` +
        `say which with { dtype: 'bfloat16' } or { dtype: 'float16' }`,
    );
  }
  if (typeof requested !== 'string' || !Object.hasOwn(ARRAY_OF_DTYPE, requested)) {
    throw typeError(
      'ERR_INVALID_DTYPE',
      `Tensor: Expected one of ${Object.keys(ARRAY_OF_DTYPE).join(', ')} for dtype ` +
        `but received ${describeValue(requested)}`,
    );
  }
  const dtype = requested as DType;
  const held = dtypeOf(data);
  if (held === null ? dtype !== 'bfloat16' && dtype !== 'float16' : dtype !== held) {
    throw typeError(
      'ERR_INVALID_DTYPE',
      `Tensor: dtype '${dtype}' is stored in ${article(ARRAY_OF_DTYPE[dtype])} but data is ${describeValue(data)}`,
    );
  }
  return dtype;
}

export interface ZerosOptions {
  /**
   * Back the storage with 2 MiB pages where the OS offers them (Linux transparent huge pages), for
   * large, long-lived tensors that kernels stream through, such as a KV cache: see huge-pages.ts.
   * Default false; ignored below 2 MiB.
   */
  hugePages?: boolean;
}

const ZEROS_OPTION_KEYS = optionKeys<ZerosOptions>({ hugePages: true });

export interface ViewOptions {
  /** Element strides, one per dimension (default: row-major contiguous). */
  strides?: readonly number[];
  /** Element offset of the first element in `data` (default 0). */
  offset?: number;
  /**
   * What `data` holds: required for a Uint16Array ('bfloat16' or 'float16'); for the other arrays it
   * may be given and must match (Float32Array 'float32', Int32Array 'int32', Uint8Array 'bool').
   */
  dtype?: DType;
}

const VIEW_OPTION_KEYS = optionKeys<ViewOptions>({ strides: true, offset: true, dtype: true });

/**
 * Every Tensor this module constructed. Native code is only ever handed tensors from here, so an
 * object forged with Object.create(Tensor.prototype) (or from another realm) cannot smuggle a shape
 * that disagrees with its data past the checks.
 */
const constructed = new WeakSet<object>();

export class Tensor<T extends TensorData = TensorData> {
  readonly data: T;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Element strides; row-major contiguous unless the tensor is a view. */
  readonly strides: readonly number[];
  /** Element offset into `data` of element [0, 0, ...]. */
  readonly offset: number;

  /**
   * @param data  Float32Array, Int32Array, Uint8Array (bool) or Uint16Array (bfloat16 or float16,
   *   with `options.dtype`); used, not copied.
   * @param shape dimensions; their product must equal data.length unless `options` makes a view.
   */
  constructor(data: T, shape: readonly number[], options?: ViewOptions) {
    if (
      !(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array) &&
      !(data instanceof Uint16Array)
    ) {
      throw typeError(
        'ERR_INVALID_DTYPE',
        `Expected a Float32Array, Int32Array, Uint8Array or Uint16Array for data but received ${describeValue(data)}`,
      );
    }
    const checked = checkShape(shape, 'shape');
    const count = numel(checked);
    const view = isTensor(options)
      ? notOptions(options, 'Tensor')
      : (readOptions(options, 'Tensor', VIEW_OPTION_KEYS) as ViewOptions);
    const dtype = resolveDtype(data, view.dtype);
    if (view.strides === undefined && view.offset === undefined) {
      if (count !== data.length) {
        throw rangeError(
          'ERR_SHAPE_MISMATCH',
          `data has ${plural(data.length, 'element')} but shape ${formatShape(checked)} needs ${count}`,
        );
      }
      this.strides = Object.freeze(contiguousStrides(checked));
      this.offset = 0;
    } else {
      const offset = view.offset ?? 0;
      if (!Number.isInteger(offset) || offset < 0) {
        throw rangeError(
          'ERR_INVALID_ARGUMENT',
          `Expected a non-negative integer for offset but received ${describeValue(offset)}`,
        );
      }
      const strides = view.strides ?? contiguousStrides(checked);
      if (!Array.isArray(strides) || strides.length !== checked.length) {
        throw rangeError(
          'ERR_INVALID_SHAPE',
          `strides must have one entry per dimension of shape ${formatShape(checked)}`,
        );
      }
      let last = offset;
      for (let i = 0; i < strides.length; ++i) {
        const s: unknown = strides[i];
        if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) {
          throw rangeError(
            'ERR_INVALID_SHAPE',
            `Expected a non-negative integer for stride ${i} but received ${describeValue(s)}`,
          );
        }
        if (count > 0) last += (checked[i] - 1) * s;
      }
      if (count > 0 && last >= data.length) {
        throw rangeError(
          'ERR_OUT_OF_BOUNDS',
          `a view of shape ${formatShape(checked)} with strides ${formatShape(strides)} and offset ${offset} ` +
            `reaches element ${last}, past data of length ${data.length}`,
        );
      }
      this.strides = Object.freeze(strides.slice());
      this.offset = offset;
    }
    this.data = data;
    this.shape = checked;
    this.dtype = dtype;
    constructed.add(this);
    // Immutable after construction: the checks above stay true for the tensor's whole life
    // (the data's contents may change; its shape, strides and offset may not).
    Object.freeze(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    for (let i = 0; i < c.length; ++i) {
      if (this.shape[i] !== 1 && this.strides[i] !== c[i]) return false;
    }
    return true;
  }

  /** A view of `length` entries of dimension `dim` starting at `start` (no copy). */
  narrow(dim: number, start: number, length: number): Tensor<T> {
    const d = dim < 0 ? dim + this.rank : dim;
    if (!Number.isInteger(d) || d < 0 || d >= this.rank) {
      throw rangeError(
        'ERR_INVALID_ARGUMENT',
        `narrow: dim ${dim} is out of range for shape ${formatShape(this.shape)}`,
      );
    }
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(length) ||
      start < 0 ||
      length < 0 ||
      start + length > this.shape[d]
    ) {
      throw rangeError(
        'ERR_OUT_OF_BOUNDS',
        `narrow: [${start}, ${start + length}) is outside dimension ${d} of size ${this.shape[d]}`,
      );
    }
    const shape = this.shape.slice();
    shape[d] = length;
    return new Tensor(this.data, shape, {
      strides: this.strides,
      offset: this.offset + start * this.strides[d],
      dtype: this.dtype,
    });
  }

  /** The same elements under another shape; contiguous tensors only (no copy). */
  reshape(shape: readonly number[]): Tensor<T> {
    const checked = checkShape(shape, 'shape');
    if (numel(checked) !== this.size) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `reshape: cannot view ${formatShape(this.shape)} as ${formatShape(checked)}`,
      );
    }
    if (!this.isContiguous()) {
      throw rangeError(
        'ERR_NOT_CONTIGUOUS',
        `reshape: the tensor of shape ${formatShape(this.shape)} is a strided view; call contiguous() first`,
      );
    }
    return new Tensor(this.data, checked, { offset: this.offset, dtype: this.dtype });
  }

  /** This tensor if it is contiguous from offset 0 over its whole data, else a contiguous copy. */
  contiguous(): Tensor<T> {
    if (this.isContiguous() && this.offset === 0 && this.data.length === this.size) return this;
    const Ctor = this.data.constructor as { new (n: number): T };
    const out = new Ctor(this.size);
    const idx = new Array<number>(this.rank).fill(0);
    for (let i = 0; i < out.length; ++i) {
      let src = this.offset;
      for (let k = 0; k < idx.length; ++k) src += idx[k] * this.strides[k];
      out[i] = this.data[src];
      for (let k = idx.length - 1; k >= 0; --k) {
        if (++idx[k] < this.shape[k]) break;
        idx[k] = 0;
      }
    }
    return new Tensor(out, this.shape, { dtype: this.dtype });
  }

  /**
   * This tensor's values as `dtype`, as PyTorch's Tensor.to: the tensor itself when it already has
   * that dtype, else a new contiguous tensor. Converts between float32, bfloat16 and float16 (in
   * SIMD, one pass over memory), rounding to nearest even; NaN stays NaN, and values beyond
   * float16's range become +-Infinity.
   */
  to(dtype: 'float32'): Tensor<Float32Array>;
  to(dtype: 'bfloat16' | 'float16'): Tensor<Uint16Array>;
  to(dtype: DType): Tensor;
  to(dtype: DType): Tensor {
    const op = 'Tensor.to';
    if (typeof dtype !== 'string' || !Object.hasOwn(ARRAY_OF_DTYPE, dtype)) {
      throw typeError(
        'ERR_INVALID_DTYPE',
        `${op}: Expected one of ${FLOAT_DTYPES.join(', ')} for dtype but received ${describeValue(dtype)}`,
      );
    }
    if (dtype === this.dtype) return this;
    if (!FLOAT_DTYPES.includes(dtype) || !FLOAT_DTYPES.includes(this.dtype)) {
      throw typeError(
        'ERR_INVALID_DTYPE',
        `${op}: converts between ${FLOAT_DTYPES.join(', ')}; cannot convert ${article(this.dtype)} tensor ` +
          `of shape ${formatShape(this.shape)} to ${dtype}`,
      );
    }
    // validate.ts's checkViewInBounds, written out: validate.ts imports this module.
    let last = this.offset;
    for (let i = 0; i < this.rank; ++i) last += (this.shape[i] - 1) * this.strides[i];
    if (this.size > 0 && last >= this.data.length) {
      throw rangeError(
        'ERR_OUT_OF_BOUNDS',
        `${op}: the tensor of shape ${formatShape(this.shape)} needs element ${last} but its data now has ` +
          `${this.data.length} (a detached or shrunk buffer)`,
      );
    }
    const data = convertElements(
      this.data as Float32Array | Uint16Array,
      this.dtype as FloatDType,
      dtype as FloatDType,
      this.shape,
      this.strides,
      this.offset,
      op,
    );
    return new Tensor(data, this.shape, { dtype });
  }

  static zeros(shape: readonly number[], options?: ZerosOptions | null): Tensor<Float32Array> {
    const n = numel(checkShape(shape, 'shape'));
    // validate.ts's optionalBoolean, written out: validate.ts imports this module.
    const o = isTensor(options)
      ? notOptions(options, 'Tensor.zeros')
      : readOptions(options, 'Tensor.zeros', ZEROS_OPTION_KEYS);
    const huge = o.hugePages;
    if (huge !== undefined && typeof huge !== 'boolean') {
      throw typeError(
        'ERR_INVALID_OPTION',
        `Tensor.zeros: Expected a boolean for hugePages but received ${describeValue(huge)}`,
      );
    }
    return new Tensor(
      huge === true ? allocFloat32HugePages(n, 'Tensor.zeros') : allocFloat32(n, 'Tensor.zeros'),
      shape,
    );
  }

  /**
   * A tensor from nested arrays, with the shape inferred as torch.tensor does ([[1, 2], [3, 4]] is
   * [2, 2], [] is [0], a number is []): float32 from numbers, bool from booleans. With `shape`, the
   * values (flat or nested) are laid out row-major in that shape and must hold its element count.
   */
  static from(values: NestedNumbers, shape?: readonly number[]): Tensor<Float32Array>;
  static from(values: NestedBooleans, shape?: readonly number[]): Tensor<Uint8Array>;
  static from(values: NestedNumbers | NestedBooleans, shape?: readonly number[]): Tensor<Float32Array | Uint8Array> {
    const flat = flattenNested(values, 'Tensor.from');
    if (shape === undefined) return new Tensor(flat.data, flat.shape);
    const checked = checkShape(shape, 'shape');
    if (numel(checked) !== flat.data.length) {
      throw rangeError(
        'ERR_SHAPE_MISMATCH',
        `Tensor.from: values of shape ${formatShape(flat.shape)} hold ${plural(flat.data.length, 'element')} ` +
          `but shape ${formatShape(checked)} needs ${numel(checked)}`,
      );
    }
    return new Tensor(flat.data, checked);
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${formatShape(this.shape)})`;
  }
}

/** A Tensor given where options go (as validate.ts's expectOptions refuses it). */
function notOptions(t: Tensor, op: string): never {
  throw typeError(
    'ERR_INVALID_OPTION',
    `${op}: Expected an options object but received a Tensor of shape ${formatShape(t.shape)}`,
  );
}

/** True for tensors built by this package's constructor (not for look-alikes or forged objects). */
export function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && constructed.has(value);
}
