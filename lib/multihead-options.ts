/** MultiHeadAttention's constructor and forward options, their key lists, and forward's results. */
import type { AbortSignalLike } from './abort';
import { KVCache } from './kv-cache';
import { MultiHeadRotaryOptions } from './multihead-decoder-options';
import { optionKeys } from './option-keys';
import { PositionalHeadOptions } from './positional-head';
import { MaskTensor, Tensor } from './tensor';

export interface MultiHeadAttentionOptions {
  embedDim: number;
  numHeads: number;
  /** Width of key inputs (default embedDim). */
  kdim?: number;
  /** Width of value inputs (default embedDim). */
  vdim?: number;
  /** Projection biases (default true). */
  bias?: boolean;
  /** Grouped-query attention: key/value heads shared by numHeads / numKeyValueHeads query heads. */
  numKeyValueHeads?: number;
  /**
   * A positional head (PARec; FPARec with `rank`): per head, softmax(P_h / sqrt(headDim) + masks)
   * times the same projected values, added to the dot-product attention's output before out_proj.
   * P_h is positional_logits[h] [maxLength, maxLength], or positional_left[h] positional_right[h]^T
   * with the factors [numHeads, maxLength, rank]; both are loaded with the other weights. Query i
   * is position i (cached length + i with a KVCache), key j position j.
   */
  positional?: PositionalHeadOptions;
}

export const MULTI_HEAD_ATTENTION_OPTION_KEYS = optionKeys<MultiHeadAttentionOptions>({
  embedDim: true,
  numHeads: true,
  kdim: true,
  vdim: true,
  bias: true,
  numKeyValueHeads: true,
  positional: true,
});

export interface MultiHeadForwardOptions {
  /** bool [B, Lk], TRUE AT PADDING (masked out); or float32 [B, Lk], added. */
  keyPaddingMask?: MaskTensor;
  /** bool [Lq, Lk] or [B * numHeads, Lq, Lk], TRUE = NOT ALLOWED; or float32, added. */
  attnMask?: MaskTensor;
  /** Causal (top-left) masking. With `cache`, attention is always causal, bottom-right aligned. */
  isCausal?: boolean;
  /**
   * Also return the attention weights (default false): the dot-product attention's only (a
   * positional head's weights are not part of them).
   */
  needWeights?: boolean;
  /** Weights averaged over heads [B, Lq, Lk] (default true) or per head [B, numHeads, Lq, Lk]. */
  averageAttnWeights?: boolean;
  /**
   * Append this call's keys/values to the cache and attend over everything cached. Asynchronous calls
   * on one cache take effect in call order; synchronous ones are refused (ERR_CACHE_BUSY) while any is queued.
   */
  cache?: KVCache;
  /**
   * With `cache`: batch item i uses cache row cacheRows[i] (default 0..B-1; B may be below cache.batch),
   * distinct rows in any order. Each row appends at its own length and attends over its own positions.
   */
  cacheRows?: Int32Array | readonly number[];
  /**
   * With `cache`, self-attention: per batch item, only its first inputLengths[i] positions are appended
   * and attend (a batch of prompts of different lengths); its other output rows are zeros.
   */
  inputLengths?: Int32Array | readonly number[];
  /**
   * Rotary position embedding (RoPE) of the projected query and key heads, before attention and
   * before the keys are cached; `true` for the defaults. Batch item b's new positions start at its
   * cache row's length (queries bottom-right aligned to the keys), at 0 without a cache.
   */
  rotary?: MultiHeadRotaryOptions | true;
  /**
   * ALiBi, as scaledDotProductAttention's: one slope per query head (float32 Tensor [numHeads],
   * Float32Array or number[]), or `true` for alibiSlopes(numHeads). Distances are to the query's
   * aligned position (its cache position with a cache).
   */
  alibiSlopes?: Tensor | Float32Array | readonly number[] | true;
  /** Sliding window [left, right] around the query's aligned position, as scaledDotProductAttention's. */
  windowSize?: readonly [number, number];
  /** Logit soft-capping: scores s become softcap * tanh(s / softcap) (> 0). */
  softcap?: number;
  /**
   * forward() only: aborting it rejects the call with an AbortError and stops its kernels (a `cache`
   * may then already hold this call's keys and values).
   */
  signal?: AbortSignalLike;
  /**
   * Write the output here instead of a new tensor: float32, contiguous, [B, Lq, embedDim], sharing no
   * bytes with the inputs, the weights or the cache (ERR_OVERLAPPING_OUTPUT).
   */
  out?: Tensor;
}

export const MULTI_HEAD_FORWARD_OPTION_KEYS = optionKeys<MultiHeadForwardOptions>({
  keyPaddingMask: true,
  attnMask: true,
  isCausal: true,
  needWeights: true,
  averageAttnWeights: true,
  cache: true,
  cacheRows: true,
  inputLengths: true,
  rotary: true,
  alibiSlopes: true,
  windowSize: true,
  softcap: true,
  out: true,
});

export interface MultiHeadForwardResult {
  /** [B, Lq, embedDim] */
  output: Tensor<Float32Array>;
  weights?: Tensor<Float32Array>;
}

/** The result of a forward call whose options say `needWeights: true`. */
export interface MultiHeadForwardResultWithWeights extends MultiHeadForwardResult {
  /** [B, Lq, Lk] averaged over heads, or [B, numHeads, Lq, Lk] with averageAttnWeights: false. */
  weights: Tensor<Float32Array>;
}
