/**
 * Tensor: a typed array seen through a shape (and, for views, strides and an offset). The array
 * given is used where it lies, never copied: Float32Array is `float32`, Int32Array `int32`,
 * Uint8Array `bool` (0 = false, anything else = true).
 */
import { describeValue, rangeError, typeError } from './errors';
import { allocFloat32HugePages } from './huge-pages';
import { optionKeys, readOptions } from './option-keys';
import { allocFloat32, checkShape, contiguousStrides, formatShape, numel } from './shape';
import { flattenNested, NestedBooleans, NestedNumbers } from './nested-array';
import { plural } from './wording';

export type DType = 'float32' | 'int32' | 'bool';
export type TensorData = Float32Array | Int32Array | Uint8Array;
/** An attention mask: bool (a Uint8Array) or float32 (added to the scores). */
export type MaskTensor = Tensor<Uint8Array> | Tensor<Float32Array>;

export function dtypeOf(data: unknown): DType | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'bool';
  return null;
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
}

const VIEW_OPTION_KEYS = optionKeys<ViewOptions>({ strides: true, offset: true });

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
   * @param data  Float32Array, Int32Array or Uint8Array (bool); used, not copied.
   * @param shape dimensions; their product must equal data.length unless `options` makes a view.
   */
  constructor(data: T, shape: readonly number[], options?: ViewOptions) {
    const dtype = dtypeOf(data);
    if (dtype === null) {
      throw typeError(
        'ERR_INVALID_DTYPE',
        `Expected a Float32Array, Int32Array or Uint8Array for data but received ${describeValue(data)}`,
      );
    }
    const checked = checkShape(shape, 'shape');
    const count = numel(checked);
    const view = isTensor(options)
      ? notOptions(options, 'Tensor')
      : (readOptions(options, 'Tensor', VIEW_OPTION_KEYS) as ViewOptions);
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
    return new Tensor(this.data, shape, { strides: this.strides, offset: this.offset + start * this.strides[d] });
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
    return new Tensor(this.data, checked, { offset: this.offset });
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
    return new Tensor(out, this.shape);
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
