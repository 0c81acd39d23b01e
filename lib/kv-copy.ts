/** The native strided copy of a tensor view into another (KV-cache appends, moves and block copies). */
import { native } from './binding';
import { COPY_STRIDED, descriptorFor } from './native-layout';
import { rangeError } from './errors';
import { Tensor } from './tensor';

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
