/** The native strided copy of a tensor view into another (KV-cache appends, moves and block copies). */
import { native } from './binding';
import { COPY_STRIDED, descriptorFor } from './native-layout';
import { TYPE_CODE } from './convert';
import { rangeError } from './errors';
import { Tensor } from './tensor';

/** A float32, bfloat16 or float16 tensor (a KV cache's storage, or what is copied into or out of it). */
export type FloatTensor = Tensor<Float32Array> | Tensor<Uint16Array>;

function typeCode(t: FloatTensor): number {
  const code = (TYPE_CODE as Record<string, number | undefined>)[t.dtype];
  if (code === undefined) throw rangeError('ERR_INVALID_DTYPE', `copyView: a ${t.dtype} tensor is not a float tensor`);
  return code;
}

/**
 * Copies a view of rank <= 4 into another of the same shape (dst's last dimension contiguous), converting
 * between float32 and a 16-bit float when their dtypes differ (rounding to nearest even when narrowing).
 */
export function copyView(srcView: FloatTensor, dst: FloatTensor): void {
  if (srcView.rank > 4) throw rangeError('ERR_INVALID_SHAPE', `copyView: rank ${srcView.rank} is above 4`);
  // The native copy moves whole rows: a source whose rows are strided is gathered first.
  const last = srcView.rank - 1;
  const src = srcView.strides[last] === 1 || srcView.shape[last] <= 1 ? srcView : (srcView.contiguous() as FloatTensor);
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
  d[F.srcType] = typeCode(src);
  d[F.dstType] = typeCode(dst);
  native().copyStrided({ src: src.data, dst: dst.data }, d);
}

/**
 * Copies `rows` positions of one batch item of a rank-4 [B, L, H, d] view into another rank-4 view, the
 * two given by element offsets of their first position: the per-row append of a cache, without the
 * eight narrowed Tensors (each checked on construction) that copyView of views would take.
 */
export function copyPositions(
  src: FloatTensor,
  srcOffset: number,
  dst: FloatTensor,
  dstOffset: number,
  rows: number,
): void {
  if (src.strides[3] !== 1 && src.shape[3] > 1) {
    // Rare (a view strided along d): through the checked path.
    const view = (t: FloatTensor, offset: number): FloatTensor =>
      new Tensor(t.data, [1, rows, t.shape[2], t.shape[3]], {
        strides: t.strides,
        offset,
        dtype: t.dtype,
      }) as FloatTensor;
    copyView(view(src, srcOffset), view(dst, dstOffset));
    return;
  }
  const F = COPY_STRIDED.fields;
  const d = descriptorFor(COPY_STRIDED);
  d[F.dim0] = 1;
  d[F.dim1] = rows;
  d[F.dim2] = src.shape[2];
  d[F.dim3] = src.shape[3];
  d[F.srcStride1] = src.strides[1];
  d[F.srcStride2] = src.strides[2];
  d[F.dstStride1] = dst.strides[1];
  d[F.dstStride2] = dst.strides[2];
  d[F.srcOffset] = srcOffset;
  d[F.dstOffset] = dstOffset;
  d[F.srcType] = typeCode(src);
  d[F.dstType] = typeCode(dst);
  native().copyStrided({ src: src.data, dst: dst.data }, d);
}
