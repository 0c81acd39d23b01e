/**
 * matmul: C = op(A) op(B) over float32, bfloat16 or float16, batched with broadcasting, zero-copy on
 * the way in (bfloat16 on the tiers with a bf16 GEMM, float16 where backendInfo().float16Gemm; other
 * half-precision inputs are widened).
 */
import type { AbortSignalLike } from './abort';
import { abortable } from './abort';
import { MatmulArrays, native } from './binding';
import { rangeError } from './errors';
import { descriptorFor, MATMUL } from './native-layout';
import {
  allocFloat32Unfilled,
  allocUint16Unfilled,
  broadcastShapes,
  broadcastStrides,
  formatShape,
  numel,
} from './shape';
import { Tensor } from './tensor';
import {
  checkHalfOut,
  checkSameDtype,
  halfBias,
  HalfDType,
  hasBf16Gemm,
  hasF16Gemm,
  MATMUL_DTYPES,
  roundResult,
} from './half-matmul';
import { callFormOf, optionKeys } from './option-keys';
import { checkOut, expectOptions, expectTensor, optionalBoolean, signalOf } from './validate';
import { PackedWeight } from './packed-weight';

export interface MatmulOptions {
  /** Use A^T: a is [..., K, M]. Default false. */
  transposeA?: boolean;
  /** Use B^T: b is [..., N, K]. Default false. */
  transposeB?: boolean;
  /**
   * [N], added to every row of the result (a linear layer's y = x W^T + b): float32, or the inputs'
   * dtype when they are bfloat16 or float16 (added in float32 before the result is rounded).
   */
  bias?: Tensor;
  /**
   * Write the result here instead of a new tensor: the inputs' dtype, contiguous, shaped
   * [...batch, M, N], sharing no bytes with a, b or bias (ERR_OVERLAPPING_OUTPUT).
   */
  out?: Tensor;
  /** Promise form only: aborting it rejects the call with an AbortError and stops its kernel. */
  signal?: AbortSignalLike;
}

const MATMUL_OPTION_KEYS = optionKeys<MatmulOptions>({ transposeA: true, transposeB: true, bias: true, out: true });

interface Prepared {
  out: Tensor<Float32Array>;
  arrays: MatmulArrays;
  descriptor: Float64Array;
}

/** A matmul call: the product the kernel writes (float32 or 16-bit), then the tensor the call returns. */
interface PreparedMatmul extends Omit<Prepared, 'out'> {
  out: Tensor<Float32Array> | Tensor<Uint16Array>;
  result: () => Tensor;
}

/** How a 2-D matrix view is stored: its row stride, and whether it is transposed in memory. */
export function matrixStorage(t: Tensor, transpose: boolean, name: string, op: string): { ld: number; trans: boolean } {
  const r = t.rank;
  const rows = t.shape[r - 2],
    cols = t.shape[r - 1];
  const sr = t.strides[r - 2],
    sc = t.strides[r - 1];
  // Row-major with contiguous rows (stride 1 along the last dim); a dimension of size 1 has any stride.
  if (sc === 1 || cols === 1) return { ld: rows <= 1 ? Math.max(cols, 1) : sr, trans: transpose };
  // A transposed view (e.g. from swapping strides): contiguous along the second-to-last dim.
  if (sr === 1 || rows === 1) return { ld: cols <= 1 ? Math.max(rows, 1) : sc, trans: !transpose };
  throw rangeError(
    'ERR_NOT_CONTIGUOUS',
    `${op}: ${name} of shape ${formatShape(t.shape)} has strides ${formatShape(t.strides)}; ` +
      `one of its last two dimensions must have stride 1 (call contiguous())`,
  );
}

/** The bias option as the contiguous N floats the binding reads, or null. */
export function biasArray(biasIn: unknown, N: number, op: string, half: HalfDType | null = null): Float32Array | null {
  if (biasIn === undefined) return null;
  const bt = half !== null ? (halfBias(biasIn, half, op) as Tensor) : expectTensor(biasIn, 'bias', ['float32'], op);
  if (bt.rank !== 1 || bt.shape[0] !== N) {
    throw rangeError('ERR_SHAPE_MISMATCH', `${op}: bias must be [${N}] (N) but has shape ${formatShape(bt.shape)}`);
  }
  return bt.strides[0] === 1 || N <= 1
    ? (bt.data.subarray(bt.offset) as Float32Array)
    : (bt.contiguous().data as Float32Array);
}

function prepare(aIn: unknown, bIn: unknown, optionsIn: unknown, op: string): PreparedMatmul {
  const aGiven = expectTensor(aIn, 'a', MATMUL_DTYPES, op);
  const bGiven = expectTensor(bIn, 'b', MATMUL_DTYPES, op);
  checkSameDtype(aGiven, bGiven, op);
  const half = aGiven.dtype === 'float32' ? null : (aGiven.dtype as HalfDType);
  const options = expectOptions(optionsIn, op, MATMUL_OPTION_KEYS, callFormOf(op));
  const transposeA = optionalBoolean(options, 'transposeA', op, false);
  const transposeB = optionalBoolean(options, 'transposeB', op, false);
  if (aGiven.rank < 2 || bGiven.rank < 2) {
    throw rangeError(
      'ERR_INVALID_SHAPE',
      `${op}: a and b need at least 2 dimensions ([..., M, K] and [..., K, N]) ` +
        `but received a ${formatShape(aGiven.shape)} and b ${formatShape(bGiven.shape)}`,
    );
  }
  // bfloat16 goes to the bf16 GEMM as it is where the tier has one, float16 to the float16 GEMM
  // likewise; other half inputs are widened to float32 (the shape checks below read the same shapes).
  const nonEmpty = half !== null && isNonEmptyProduct(aGiven, bGiven, transposeA, transposeB);
  const nativeBf16 = half === 'bfloat16' && nonEmpty && hasBf16Gemm();
  const nativeF16 = half === 'float16' && nonEmpty && hasF16Gemm();
  const nativeHalf = nativeBf16 || nativeF16;
  const a = half === null || nativeHalf ? aGiven : aGiven.to('float32');
  const b = half === null || nativeHalf ? bGiven : bGiven.to('float32');
  const ar = a.rank,
    br = b.rank;
  const M = transposeA ? a.shape[ar - 1] : a.shape[ar - 2];
  const Ka = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
  const Kb = transposeB ? b.shape[br - 1] : b.shape[br - 2];
  const N = transposeB ? b.shape[br - 2] : b.shape[br - 1];
  if (Ka !== Kb) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: inner dimensions differ: a ${formatShape(a.shape)}${transposeA ? ' (transposed)' : ''} has K = ${Ka} ` +
        `but b ${formatShape(b.shape)}${transposeB ? ' (transposed)' : ''} has K = ${Kb}`,
    );
  }
  const aBatch = a.shape.slice(0, ar - 2),
    bBatch = b.shape.slice(0, br - 2);
  const batch = broadcastShapes(aBatch, bBatch);
  if (batch === null) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: batch dimensions of a ${formatShape(a.shape)} and b ${formatShape(b.shape)} do not broadcast ` +
        `(${formatShape(aBatch)} vs ${formatShape(bBatch)})`,
    );
  }
  const outShape = [...batch, M, N];
  const bias = biasArray(options.bias, N, op, half);
  // The kernel writes the result's dtype itself (float32, or a half GEMM's 16-bit output); widened
  // half inputs are multiplied into a float32 product that is rounded afterwards.
  const direct = half === null || nativeHalf;
  let given: { out: Tensor<Float32Array> | Tensor<Uint16Array>; data: Float32Array | Uint16Array } | undefined;
  let halfOut: Tensor<Uint16Array> | undefined;
  if (options.out !== undefined && direct)
    given = checkOut(options.out, outShape, op, { a, b, bias: options.bias }, undefined, half ?? 'float32');
  else if (options.out !== undefined)
    halfOut = checkHalfOut(options.out, outShape, half as HalfDType, op, { a: aGiven, b: bGiven, bias: options.bias });
  const fresh = () => {
    const n = numel(outShape, 'the output');
    return nativeHalf
      ? new Tensor(allocUint16Unfilled(n, 'the output'), outShape, { dtype: half as HalfDType })
      : new Tensor(allocFloat32Unfilled(n, 'the output'), outShape);
  };
  const out = given?.out ?? fresh();
  const outData = given?.data ?? out.data;
  const sa = matrixStorage(a, transposeA, 'a', op);
  const sb = matrixStorage(b, transposeB, 'b', op);
  const aStrides = broadcastStrides(aBatch, a.strides.slice(0, ar - 2), batch);
  const bStrides = broadcastStrides(bBatch, b.strides.slice(0, br - 2), batch);
  const nb = batch.length;
  const F = MATMUL.fields;
  const d = descriptorFor(MATMUL, 3 * nb);
  d[F.M] = M;
  d[F.N] = N;
  d[F.K] = Ka;
  d[F.aOffset] = a.offset;
  d[F.lda] = sa.ld;
  d[F.transA] = sa.trans ? 1 : 0;
  d[F.bOffset] = b.offset;
  d[F.ldb] = sb.ld;
  d[F.transB] = sb.trans ? 1 : 0;
  d[F.batchRank] = nb;
  d[F.bf16Inputs] = nativeBf16 ? 1 : 0;
  d[F.f16Inputs] = nativeF16 ? 1 : 0;
  d[F.halfOutput] = nativeHalf ? 1 : 0;
  // Widened half inputs multiply in float32 whatever setFloat32MatmulPrecision says.
  d[F.float32Products] = half !== null ? 1 : 0;
  // The batch tail after the fields: the broadcast batch shape, then a's and b's strides over it.
  d.set(batch, MATMUL.length);
  d.set(aStrides, MATMUL.length + nb);
  d.set(bStrides, MATMUL.length + 2 * nb);
  const arrays = { a: a.data, b: b.data, out: outData, bias } as MatmulArrays;
  const result = direct ? () => out : () => roundResult(outData as Float32Array, outShape, half, halfOut, op);
  return { out, arrays, descriptor: d, result };
}

/** M, N and K all at least 1 (the half GEMMs' domain; an empty product is left to float32). */
function isNonEmptyProduct(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): boolean {
  const ar = a.rank,
    br = b.rank;
  return (
    a.shape[ar - 1] > 0 &&
    a.shape[ar - 2] > 0 &&
    (transposeB ? b.shape[br - 2] : b.shape[br - 1]) > 0 &&
    (transposeA ? a.shape[ar - 2] : a.shape[ar - 1]) === (transposeB ? b.shape[br - 1] : b.shape[br - 2])
  );
}

/**
 * C = op(A) op(B), on the calling thread (the kernel pool still splits the work).
 * a: [..., M, K] (or [..., K, M] with transposeA), b: [..., K, N] (or [..., N, K]), both float32,
 * both bfloat16 or both float16; batch dimensions broadcast. Strided views (e.g. from narrow()) are
 * read in place. Half-precision inputs accumulate in float32 and the result is rounded once to
 * their dtype (float16 is widened to float32 first unless backendInfo().float16Gemm).
 * @returns a new tensor [...batch, M, N] of the inputs' dtype
 */
export function matmulSync(
  a: Tensor<Uint16Array>,
  b: Tensor<Uint16Array>,
  options?: MatmulOptions,
): Tensor<Uint16Array>;
// Tensors typed loosely are taken as float32, as before half-precision inputs (a bfloat16 tensor
// typed Tensor still returns a Uint16Array-backed result: its dtype says so).
export function matmulSync(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor<Float32Array>;
export function matmulSync(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor {
  const p = prepare(a, b, options, 'matmulSync');
  native().matmul(p.arrays, p.descriptor);
  return p.result();
}

/**
 * As matmulSync, off the event loop: the work runs on the kernel pool while JavaScript goes on; a
 * and b are kept alive until it settles. Do not write to a or b before the promise settles.
 */
export async function matmul(
  a: Tensor<Uint16Array>,
  b: Tensor<Uint16Array>,
  options?: MatmulOptions,
): Promise<Tensor<Uint16Array>>;
export async function matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Promise<Tensor<Float32Array>>;
export async function matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Promise<Tensor> {
  const p = prepare(a, b, options, 'matmul');
  const signal = signalOf(options, 'matmul');
  await abortable(signal, (cancel) => native().matmulAsync(p.arrays, p.descriptor, cancel));
  return p.result();
}

/** Options of the linear layer with a packed weight (internal). */
export interface LinearOptions {
  /** float32 [N], added to every row of the result. */
  bias?: Tensor;
  /** Write the result here: float32, contiguous, [...x.shape[:-1], N], sharing no bytes with the inputs. */
  out?: Tensor;
  /** linear() only: aborting it rejects the call with an AbortError and stops its kernels. */
  signal?: AbortSignalLike;
}

export const LINEAR_OPTION_KEYS = optionKeys<LinearOptions>({ bias: true, out: true });

/**
 * The row stride of x [..., rows, K] read as one matrix of all its leading rows, or null when its
 * leading dimensions do not step through memory evenly (then each batch item is its own product).
 */
export function foldedRowStride(x: Tensor): number | null {
  const r = x.rank;
  if (x.strides[r - 1] !== 1 && x.shape[r - 1] > 1) return null;
  let rowStride: number | null = null;
  let inner = 1; // rows spanned by the dimensions inside the current one
  for (let i = r - 2; i >= 0; --i) {
    if (x.shape[i] > 1) {
      if (rowStride === null) rowStride = x.strides[i] / inner;
      else if (x.strides[i] !== rowStride * inner) return null;
    }
    inner *= x.shape[i];
  }
  if (rowStride !== null && (!Number.isInteger(rowStride) || rowStride < x.shape[r - 1])) return null;
  return rowStride ?? Math.max(x.shape[r - 1], 1);
}

/**
 * The weight side of a linear call, W [N, K] as the matmul op reads it (y = x W^T): prepacked float32
 * panels (packedB, their width) or bfloat16 rows (bf16) `ld` apart from `offset` in `data`; `owner`
 * is what an `out` may not overlap.
 */
export interface LinearWeightView {
  N: number;
  K: number;
  data: Float32Array | Uint16Array;
  offset: number;
  ld: number;
  packedB: number;
  bf16: boolean;
  owner: unknown;
}

/** Checks a linear call y = x W^T (+ bias) and lays it out for the matmul op. */
export function prepareLinearCall(xIn: unknown, w: LinearWeightView, optionsIn: unknown, op: string): Prepared {
  const x = expectTensor(xIn, 'x', ['float32'], op) as Tensor<Float32Array>;
  const options = expectOptions(optionsIn, op, LINEAR_OPTION_KEYS, callFormOf(op));
  const r = x.rank;
  if (r < 2 || x.shape[r - 1] !== w.K) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: x must be [..., M, ${w.K}] for the weight [${w.N}, ${w.K}] but has shape ${formatShape(x.shape)}`,
    );
  }
  const N = w.N,
    K = w.K;
  const outShape = [...x.shape.slice(0, r - 1), N];
  const bias = biasArray(options.bias, N, op);
  let out: Tensor<Float32Array>, outData: Float32Array;
  if (options.out !== undefined)
    ({ out, data: outData } = checkOut(options.out, outShape, op, { x, weight: w.owner, bias: options.bias }));
  else outData = (out = new Tensor(allocFloat32Unfilled(numel(outShape, 'the output'), 'the output'), outShape)).data;
  const rowStride = foldedRowStride(x);
  // All leading rows as one product when they are evenly spaced (a decode batch becomes M = B rows,
  // reading the weight once), else a batch of products over x's leading dimensions.
  const batch = rowStride === null ? x.shape.slice(0, r - 2) : [];
  const nb = batch.length;
  const sa = rowStride === null ? matrixStorage(x, false, 'x', op) : { ld: rowStride, trans: false };
  const F = MATMUL.fields;
  const d = descriptorFor(MATMUL, 3 * nb);
  d[F.M] = rowStride === null ? x.shape[r - 2] : numel(x.shape.slice(0, r - 1), 'x');
  d[F.N] = N;
  d[F.K] = K;
  d[F.aOffset] = x.offset;
  d[F.lda] = sa.ld;
  d[F.transA] = sa.trans ? 1 : 0;
  d[F.bOffset] = w.offset;
  d[F.ldb] = w.ld;
  d[F.transB] = 1;
  d[F.batchRank] = nb;
  d[F.packedB] = w.packedB;
  d[F.bf16Weight] = w.bf16 ? 1 : 0;
  d.set(batch, MATMUL.length);
  d.set(x.strides.slice(0, nb), MATMUL.length + nb);
  // b's batch strides stay 0: every item shares the weight.
  return { out, arrays: { a: x.data, b: w.data, out: outData, bias }, descriptor: d };
}

function prepareLinear(xIn: unknown, w: PackedWeight, optionsIn: unknown, op: string): Prepared {
  w.check(op);
  const view = { N: w.N, K: w.K, data: w.data, offset: 0, ld: Math.max(w.K, 1), packedB: w.panelWidth, bf16: false };
  return prepareLinearCall(xIn, { ...view, owner: w.data }, optionsIn, op);
}

/** y = x W^T (+ bias) with a weight packed by packWeight, on the calling thread. x: [..., K]. */
export function linearSync(x: Tensor, w: PackedWeight, options?: LinearOptions): Tensor<Float32Array> {
  const p = prepareLinear(x, w, options, 'linearSync');
  native().matmul(p.arrays, p.descriptor);
  return p.out;
}

/** As linearSync, on the kernel pool. */
export async function linear(x: Tensor, w: PackedWeight, options?: LinearOptions): Promise<Tensor<Float32Array>> {
  const p = prepareLinear(x, w, options, 'linear');
  await abortable(signalOf(options, 'linear'), (cancel) => native().matmulAsync(p.arrays, p.descriptor, cancel));
  return p.out;
}
