/**
 * A linear layer y = x W^T (+ bias) whose weight W [N, K] is kept in bfloat16 while x, the bias and
 * y stay float32 (internal: MultiHeadAttention with bfloat16 weights). A few rows of x stream W once,
 * widened in registers, accumulating in float32; more rows use the bf16 GEMM where the tier has one
 * (x rounded to bfloat16 as it is packed), else W widened block by block to the float32 kernels.
 */
import type { AbortSignalLike } from './abort';
import { abortable } from './abort';
import { native } from './binding';
import { rangeError } from './errors';
import { biasArray, foldedRowStride, LINEAR_OPTION_KEYS, LinearOptions, matrixStorage } from './matmul';
import { descriptorFor, MATMUL } from './native-layout';
import { allocFloat32Unfilled, formatShape, numel } from './shape';
import { Tensor } from './tensor';
import { callFormOf } from './option-keys';
import { checkOut, expectOptions, expectTensor, signalOf } from './validate';

/** W [N, K] in bfloat16 with contiguous rows (a view of a larger weight keeps its row stride). */
export class Bf16Weight {
  readonly N: number;
  readonly K: number;
  constructor(readonly tensor: Tensor<Uint16Array>) {
    [this.N, this.K] = tensor.shape;
  }

  /** Rows [start, start + count) of W: a fused QKV weight split into its Q, K and V parts. */
  rows(start: number, count: number): Bf16Weight {
    return new Bf16Weight(this.tensor.narrow(0, start, count));
  }
}

/** w: a bfloat16 [N, K] tensor, copied only when its rows are not contiguous. */
export function bf16Weight(w: Tensor<Uint16Array>): Bf16Weight {
  return new Bf16Weight(w.strides[1] === 1 || w.shape[1] <= 1 ? w : w.contiguous());
}

interface Prepared {
  out: Tensor<Float32Array>;
  arrays: { a: Float32Array; b: Uint16Array; out: Float32Array; bias: Float32Array | null };
  descriptor: Float64Array;
}

function prepare(xIn: unknown, w: Bf16Weight, optionsIn: unknown, op: string): Prepared {
  const x = expectTensor(xIn, 'x', ['float32'], op) as Tensor<Float32Array>;
  const options = expectOptions(optionsIn, op, LINEAR_OPTION_KEYS, callFormOf(op));
  const r = x.rank;
  if (r < 2 || x.shape[r - 1] !== w.K) {
    throw rangeError(
      'ERR_SHAPE_MISMATCH',
      `${op}: x must be [..., M, ${w.K}] for the weight [${w.N}, ${w.K}] but has shape ${formatShape(x.shape)}`,
    );
  }
  const { N, K } = w;
  const outShape = [...x.shape.slice(0, r - 1), N];
  const bias = biasArray(options.bias, N, op);
  let out: Tensor<Float32Array>, outData: Float32Array;
  if (options.out !== undefined)
    ({ out, data: outData } = checkOut(options.out, outShape, op, { x, weight: w.tensor, bias: options.bias }));
  else outData = (out = new Tensor(allocFloat32Unfilled(numel(outShape, 'the output'), 'the output'), outShape)).data;
  const rowStride = foldedRowStride(x);
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
  d[F.bOffset] = w.tensor.offset;
  d[F.ldb] = N > 1 ? w.tensor.strides[0] : Math.max(K, 1);
  d[F.transB] = 1;
  d[F.batchRank] = nb;
  d[F.bf16Weight] = 1;
  d.set(batch, MATMUL.length);
  d.set(x.strides.slice(0, nb), MATMUL.length + nb);
  return { out, arrays: { a: x.data, b: w.tensor.data, out: outData, bias }, descriptor: d };
}

/** y = x W^T (+ bias) with W in bfloat16, on the calling thread. x: float32 [..., K]. */
export function linearBf16Sync(x: Tensor, w: Bf16Weight, options?: LinearOptions): Tensor<Float32Array> {
  const p = prepare(x, w, options, 'linearSync');
  native().matmul(p.arrays, p.descriptor);
  return p.out;
}

/** As linearBf16Sync, on the kernel pool. */
export async function linearBf16(
  x: Tensor,
  w: Bf16Weight,
  options?: LinearOptions & { signal?: AbortSignalLike },
): Promise<Tensor<Float32Array>> {
  const p = prepare(x, w, options, 'linear');
  await abortable(signalOf(options, 'linear'), (cancel) => native().matmulAsync(p.arrays, p.descriptor, cancel));
  return p.out;
}
