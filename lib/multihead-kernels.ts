/**
 * The kernels MultiHeadAttention's block runs (kernel-steps.ts picks the sync, async or abortable
 * form per call), and the projection weight they take.
 */
import {
  attentionWeights,
  attentionWeightsSync,
  AttentionOptions,
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
} from './attention';
import { Bf16Weight, linearBf16, linearBf16Sync } from './bf16-linear';
import { Kernel } from './kernel-steps';
import { linear, linearSync, LinearOptions, matmul, matmulSync, MatmulOptions } from './matmul';
import { PackedWeight } from './packed-weight';
import { applyRotaryEmbedding, applyRotaryEmbeddingSync, RotaryEmbeddingOptions } from './rotary';
import { Tensor } from './tensor';

/** A projection's weight as the LINEAR step reads it: float32 panels, or bfloat16 rows. */
export type LinearWeight = PackedWeight | Bf16Weight;

/** The kernels the block runs, each in both modes (kernel-steps picks one per call). */
export const MATMUL: Kernel<[Tensor, Tensor, MatmulOptions?], Tensor<Float32Array>> = {
  sync: matmulSync,
  async: matmul,
  abortable: (signal, a, b, o) => matmul(a, b, { ...o, signal }),
};
export const LINEAR: Kernel<[Tensor, LinearWeight, LinearOptions?], Tensor<Float32Array>> = {
  sync: (x, w, o) => (w instanceof Bf16Weight ? linearBf16Sync(x, w, o) : linearSync(x, w, o)),
  async: (x, w, o) => (w instanceof Bf16Weight ? linearBf16(x, w, o) : linear(x, w, o)),
  abortable: (signal, x, w, o) =>
    w instanceof Bf16Weight ? linearBf16(x, w, { ...o, signal }) : linear(x, w, { ...o, signal }),
};
export const ATTENTION: Kernel<[Tensor, Tensor, Tensor, AttentionOptions?], Tensor<Float32Array>> = {
  sync: scaledDotProductAttentionSync,
  async: scaledDotProductAttention,
  abortable: (signal, q, k, v, o) => scaledDotProductAttention(q, k, v, { ...o, signal }),
};
export const ROTARY: Kernel<[Tensor, RotaryEmbeddingOptions?], Tensor<Float32Array>> = {
  sync: applyRotaryEmbeddingSync,
  async: applyRotaryEmbedding,
  abortable: (signal, x, o) => applyRotaryEmbedding(x, { ...o, signal }),
};
export const WEIGHTS: Kernel<[Tensor, Tensor, AttentionOptions?], Tensor<Float32Array>> = {
  sync: attentionWeightsSync,
  async: attentionWeights,
  abortable: (signal, q, k, o) => attentionWeights(q, k, { ...o, signal }),
};
