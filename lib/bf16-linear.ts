/**
 * A linear layer y = x W^T (+ bias) whose weight W [N, K] is kept in bfloat16 while x, the bias and
 * y stay float32 (internal: MultiHeadAttention with bfloat16 weights). A few rows of x stream W once,
 * widened in registers, accumulating in float32; more rows use the bf16 GEMM where the tier has one
 * (x rounded to bfloat16 as it is packed), else W widened block by block to the float32 kernels.
 */
import type { AbortSignalLike } from './abort';
import { abortable } from './abort';
import { native } from './binding';
import { LinearOptions, LinearWeightView, prepareLinearCall } from './matmul';
import { Tensor } from './tensor';
import { signalOf } from './validate';

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

/** The matmul op's view of a bfloat16 weight: its rows as they lie. */
function weightView(w: Bf16Weight): LinearWeightView {
  const t = w.tensor;
  const ld = w.N > 1 ? t.strides[0] : Math.max(w.K, 1);
  return { N: w.N, K: w.K, data: t.data, offset: t.offset, ld, packedB: 0, bf16: true, owner: t };
}

/** y = x W^T (+ bias) with W in bfloat16, on the calling thread. x: float32 [..., K]. */
export function linearBf16Sync(x: Tensor, w: Bf16Weight, options?: LinearOptions): Tensor<Float32Array> {
  const p = prepareLinearCall(x, weightView(w), options, 'linearSync');
  native().matmul(p.arrays, p.descriptor);
  return p.out;
}

/** As linearBf16Sync, on the kernel pool. */
export async function linearBf16(
  x: Tensor,
  w: Bf16Weight,
  options?: LinearOptions & { signal?: AbortSignalLike },
): Promise<Tensor<Float32Array>> {
  const p = prepareLinearCall(x, weightView(w), options, 'linear');
  await abortable(signalOf(options, 'linear'), (cancel) => native().matmulAsync(p.arrays, p.descriptor, cancel));
  return p.out;
}
