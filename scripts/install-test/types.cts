// Type-checked (not run) by scripts/install-test.sh: the CommonJS types of the installed package.
import sa = require('simd-attention');

const q = new sa.Tensor(new Float32Array(8), [2, 4]);
export const out: Promise<sa.Tensor<Float32Array>> = sa.scaledDotProductAttention(q, q, q, { isCausal: true });
export const product: sa.Tensor<Float32Array> = sa.matmulSync(q, q, { transposeB: true });
// @ts-expect-error isCausal is a boolean
sa.scaledDotProductAttentionSync(q, q, q, { isCausal: 'yes' });
