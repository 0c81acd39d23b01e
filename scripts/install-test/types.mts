// Type-checked (not run) by scripts/install-test.sh: the ESM types of the installed package.
import { Tensor, scaledDotProductAttention, matmulSync, backendInfo } from 'simd-attention';
import type { AbortSignalLike, AttentionOptions, BackendInfo } from 'simd-attention';

const q = new Tensor(new Float32Array(8), [2, 4]);
const options: AttentionOptions = { isCausal: true, causalAlignment: 'bottom-right' };
export const out: Promise<Tensor<Float32Array>> = scaledDotProductAttention(q, q, q, options);
export const product: Tensor<Float32Array> = matmulSync(q, q, { transposeB: true });
export const info: BackendInfo = backendInfo();
// The signal option's type needs neither @types/node nor the DOM library here.
declare const signal: AbortSignalLike;
export const aborted: Promise<Tensor<Float32Array>> = scaledDotProductAttention(q, q, q, { signal });
// @ts-expect-error a shape is a number[], not a string
new Tensor(new Float32Array(4), '2x2');
