// One decode (or prefill) step of a self-attention block over a KV cache, in one call:
//   qkv = x W_in^T + b_in;  append qkv's K and V rows to each batch item's cache row at its length;
//   attn = attention of qkv's Q over that row's positions [0, length + Lq), BLHD, causal
//   bottom-right aligned to the row, GQA when kvHeads < heads;  out = attn W_out^T + b_out.
// Each stage is one dispatch on the thread pool; nothing is allocated per call.
#pragma once
#include <cstdint>

#include "kernels/convert.h"
#include "kernels/matmul.h"
#include "runtime/dispatch.h"

namespace sa {

struct AttentionBlockStep {
  int64_t batch = 0, Lq = 0, heads = 0, kvHeads = 0, headDim = 0;
  // x [batch, Lq, heads * headDim]: row (b, i) at x + b * xStrideB + i * xStrideL, contiguous.
  const float* x = nullptr;
  int64_t xStrideB = 0, xStrideL = 0;
  // Linear layers y = x W^T + b: W [outFeatures, inFeatures] with row stride ld*, bias or nullptr.
  const float* inWeight = nullptr;  // [E + 2 Ekv, E]: Wq; Wk; Wv
  int64_t inWeightLd = 0;
  const float* inBias = nullptr;
  const float* outWeight = nullptr;  // [E, E]
  int64_t outWeightLd = 0;
  const float* outBias = nullptr;
  // The same weights packed into the matmul's panels (PackedPanels), read instead when data is set.
  PackedPanels inPacked, outPacked;
  // The weights kept in bfloat16 (bit patterns through the same row strides), read instead of the
  // float ones when set (linearBf16Weight); never with panels.
  const uint16_t* inWeight16 = nullptr;
  const uint16_t* outWeight16 = nullptr;
  // The cache storage, [cacheRows, capacity, kvHeads, headDim] each; positions past a row's length unused.
  float* keyCache = nullptr;
  float* valueCache = nullptr;
  // A half-width cache (kvType BFloat16 or Float16): keyCache16 / valueCache16 instead, the new keys
  // and values rounded to nearest even as they are appended.
  ElementType kvType = ElementType::Float32;
  uint16_t* keyCache16 = nullptr;
  uint16_t* valueCache16 = nullptr;
  int64_t capacity = 0, cacheLength = 0;
  // Paged storage (blockSize > 0): the caches hold blocks of blockSize positions, [blocks, blockSize,
  // kvHeads, headDim]; position p of cache row r lies in block blockTables[r * blockTableWidth + p /
  // blockSize]. The caller has checked every entry a step reads or writes.
  int64_t blockSize = 0;
  const int32_t* blockTables = nullptr;
  int64_t blockTableWidth = 0;
  // Rows of their own lengths (continuous batching): batch item b appends to and reads cache row
  // keyRows[b] (nullptr: row b), whose length before the step is rowLengths[b] (nullptr: cacheLength).
  const int32_t* keyRows = nullptr;
  const int32_t* rowLengths = nullptr;
  float* qkv = nullptr;   // scratch [batch * Lq, E + 2 Ekv]
  float* attn = nullptr;  // scratch [batch * Lq, E]
  float* out = nullptr;   // [batch * Lq, E], contiguous
  float scale = 1.0f;
};

// The caller has checked every bound, that every row's length + Lq <= capacity and that keyRows are distinct.
void attentionBlockStep(const KernelTable& kernels, const AttentionBlockStep& step);

}  // namespace sa
