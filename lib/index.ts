/** simd-attention: public exports only. */
export { Tensor, isTensor } from './tensor';
export type { DType, MaskTensor, TensorData, ViewOptions, ZerosOptions } from './tensor';
export type { NestedBooleans, NestedNumbers } from './nested-array';
export { SimdAttentionRangeError, SimdAttentionTypeError } from './errors';
export type { AbortSignalLike, SignalOptions } from './abort';
export type { ErrorCode } from './errors';
export { matmul, matmulSync } from './matmul';
export type { MatmulOptions } from './matmul';
export {
  scaledDotProductAttention,
  scaledDotProductAttentionSync,
  attentionWeights,
  attentionWeightsSync,
  alibiSlopes,
} from './attention';
export type { AttentionOptions, AttentionLayout, CausalAlignment } from './attention';
export { backendInfo, setNumThreads, getNumThreads, measureFmaPeak } from './backend';
export type { BackendInfo, Isa } from './backend';
export { setFloat32MatmulPrecision, getFloat32MatmulPrecision } from './matmul-precision';
export type { Float32MatmulPrecision } from './matmul-precision';
export { MultiHeadAttention } from './multihead';
export { PrecomputedMemory } from './precomputed-memory';
export type { MultiHeadRotaryOptions } from './multihead-decoder-options';
export type { LoadStateDictOptions } from './state-dict-options';
export type { WeightDtype, WeightDtypeOption, WeightLoadOptions } from './weight-dtype';
export type { PositionalHeadOptions } from './positional-head';
export type {
  MultiHeadAttentionOptions,
  MultiHeadForwardOptions,
  MultiHeadForwardResult,
  MultiHeadForwardResultWithWeights,
} from './multihead';
export { KVCache } from './kv-cache';
export type { KVCacheOptions, KVCacheDType } from './kv-cache';
export { readSafetensors, parseSafetensors, encodeSafetensors } from './safetensors';
export { AdditiveAttention, PrecomputedKeys } from './additive';
export type { AdditiveAttentionOptions, AdditiveWeights, Seq2SeqForwardOptions } from './additive';
export { LuongAttention } from './luong';
export type { LuongAttentionOptions, LuongWeights, LuongScore } from './luong';
export type { Seq2SeqResult } from './seq2seq';
export { renderHeatmapSVG, type HeatmapOptions, type HeatmapWeights } from './render/heatmap';
export { linearAttention, linearAttentionSync, LinearAttentionState } from './linear-attention';
export type {
  FeatureMapName,
  LinearAttentionOptions,
  LinearAttentionStateOptions,
  LinearAttentionStepOptions,
} from './linear-attention';
export { applyRotaryEmbedding, applyRotaryEmbeddingSync } from './rotary';
export type { RotaryEmbeddingOptions } from './rotary';
export { softAlign, softAlignSync } from './soft-align';
export type { SoftAlignOptions, SoftAlignResult } from './soft-align';
export { SqueezeExcitation, CBAM } from './channel-spatial';
export type { SqueezeExcitationOptions, SqueezeExcitationWeights, CBAMOptions, CBAMWeights } from './channel-spatial';
export {
  factorizedPositionalAttention,
  factorizedPositionalAttentionSync,
  positionalAttention,
  positionalAttentionSync,
} from './positional';
export type { PositionalAttentionOptions } from './positional';
