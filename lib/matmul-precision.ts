/** Float32 matmul precision, as torch.set_float32_matmul_precision: a process-wide setting. */
import { native } from './binding';
import { describeValue, rangeError, typeError } from './errors';
import { closestName } from './suggest';

export type Float32MatmulPrecision = 'highest' | 'high' | 'medium';

const PRECISIONS: readonly Float32MatmulPrecision[] = ['highest', 'high', 'medium'];

/**
 * How float32 matmul, matmulSync and linear layers (so MultiHeadAttention's projections) multiply.
 * - 'highest' (default): float32 products.
 * - 'medium': on CPUs with bfloat16 dot products (the avx512bf16, amx and neonbf16 tiers of backendInfo()),
 *   both operands are rounded to bfloat16 and their products accumulated in float32 — about twice
 *   the multiply-adds per instruction, about 2^-8 relative error per factor. Products of 4 rows or
 *   fewer (decoding steps, bound by memory rather than multiplies) stay float32.
 * - 'high': float32 products, as 'highest': the three-term bfloat16 split PyTorch allows for it
 *   costs more than float32 itself with vdpbf16ps.
 * Tiers without bfloat16 products ignore the setting. Applies to calls made after it; affects the
 * whole process (every worker thread shares the native kernels).
 */
export function setFloat32MatmulPrecision(precision: Float32MatmulPrecision): void {
  if (typeof precision !== 'string') {
    throw typeError(
      'ERR_INVALID_OPTION',
      `setFloat32MatmulPrecision: Expected 'highest', 'high' or 'medium' for precision but received ${describeValue(precision)}`,
    );
  }
  if (!PRECISIONS.includes(precision)) {
    const near = closestName(precision, PRECISIONS);
    throw rangeError(
      'ERR_INVALID_OPTION',
      `setFloat32MatmulPrecision: precision must be 'highest', 'high' or 'medium' but is ${describeValue(precision)}` +
        (near !== undefined ? `; did you mean '${near}'?` : ''),
    );
  }
  native().setFloat32MatmulPrecision(precision);
}

/** The current float32 matmul precision ('highest' unless setFloat32MatmulPrecision changed it). */
export function getFloat32MatmulPrecision(): Float32MatmulPrecision {
  return native().getFloat32MatmulPrecision() as Float32MatmulPrecision;
}
