// Scaled dot-product attention (docs/SPEC.md sections 1-2), fused: for each (batch, head, block of
// query rows) it streams over key/value blocks with an online softmax, never materialising Lq x Lk.
#pragma once
#include <cstdint>

#include "kernels/convert.h"
#include "runtime/dispatch.h"

namespace sa {

enum class MaskKind : int { None = 0, Additive = 1, Boolean = 2 };

// Every tensor is read through strides (in elements) over [batch, head, row]; its last dimension is
// contiguous. Layout BHLD and BLHD are just different strides.
struct AttentionProblem {
  int64_t batch = 0, heads = 0, kvHeads = 0;  // query head h reads kv head h / (heads / kvHeads)
  int64_t Lq = 0, Lk = 0, dk = 0, dv = 0;
  const float* q = nullptr;
  int64_t qStrideB = 0, qStrideH = 0, qStrideL = 0;
  const float* k = nullptr;
  int64_t kStrideB = 0, kStrideH = 0, kStrideL = 0;
  const float* v = nullptr;
  int64_t vStrideB = 0, vStrideH = 0, vStrideL = 0;
  // Half-width keys and values (kvType BFloat16 or Float16): k16 and v16 instead of k and v, through
  // the same strides; the kernels widen them as they read.
  ElementType kvType = ElementType::Float32;
  const uint16_t* k16 = nullptr;
  const uint16_t* v16 = nullptr;
  float* out = nullptr;  // [batch, heads, Lq, dv] through its strides
  // bfloat16 queries and output (qType BFloat16): q16 and out16 instead of q and out, through the
  // same strides; scores and softmax stay float32, the output is rounded to nearest even.
  ElementType qType = ElementType::Float32;
  const uint16_t* q16 = nullptr;
  uint16_t* out16 = nullptr;
  int64_t oStrideB = 0, oStrideH = 0, oStrideL = 0;
  float scale = 1.0f;
  bool causal = false;  // key j <= query i's aligned position (below)
  // Mask broadcast to [batch, heads, Lq, Lk] through strides (0 on a broadcast dimension).
  // Additive: added to the scores (-inf forbids). Boolean: nonzero = may attend (PyTorch SDPA).
  MaskKind maskKind = MaskKind::None;
  const float* maskAdditive = nullptr;
  const uint8_t* maskBoolean = nullptr;
  int64_t maskStrideB = 0, maskStrideH = 0, maskStrideQ = 0, maskStrideK = 0;
  // nn.MultiheadAttention polarity: a nonzero boolean mask entry FORBIDS the pair instead.
  bool maskBooleanForbids = false;
  // A second, per-key mask [batch, Lk] (nn.MultiheadAttention's key_padding_mask), applied on top of
  // the one above: Additive adds keyPaddingAdditive[b * keyPaddingStrideB + j * keyPaddingStrideK];
  // Boolean: nonzero = padding = forbidden.
  MaskKind keyPaddingKind = MaskKind::None;
  const float* keyPaddingAdditive = nullptr;
  const uint8_t* keyPaddingBoolean = nullptr;
  int64_t keyPaddingStrideB = 0, keyPaddingStrideK = 0;
  const int32_t* keyLengths = nullptr;  // [batch]: only keys j < keyLengths[b] count; or nullptr
  // Query i's aligned position i' (causal limit, sliding window and ALiBi distances): i for
  // top-left, i + Lk - Lq for bottom-right. The one place the alignment is stored.
  bool bottomRightAligned = false;
  // Bottom-right to each batch item's own keys: i' = i + keyLengths[b] - Lq (a batch of KV-cache rows
  // of different lengths). Needs bottomRightAligned and keyLengths.
  bool alignToKeyLengths = false;
  // [batch]: batch item b reads key/value batch item keyRows[b] (cache rows in any order); or nullptr (b).
  const int32_t* keyRows = nullptr;
  // [batch]: only query rows i < queryLengths[b] attend, the others give zeros (a ragged prompt); the
  // alignment to the key lengths then puts the last of them at the last key. Or nullptr (Lq).
  const int32_t* queryLengths = nullptr;
  // Sliding window: only keys i' - windowLeft <= j <= i' + windowRight count (-1 = unbounded side).
  // Folded into each row's key range, so key blocks outside every row's window are never read.
  int64_t windowLeft = -1, windowRight = -1;
  // ALiBi: adds -alibiSlopes[h] * |i' - j| to the scaled score of query head h (nullptr = off).
  const float* alibiSlopes = nullptr;
  // Gemma-2 logit soft-capping: s = softcap * tanh(s / softcap) on scale * q.k, before the masks
  // and ALiBi (0 = off).
  float softcap = 0.0f;
  // Positional attention (PARec): q holds the scores themselves, before the scale (row i of (b, h)
  // is Lk floats, key j at [j]; dk == Lk), and k is not read (may be null).
  bool scoresFromLogits = false;
  // Paged keys and values (kvBlockSize > 0): k and v hold blocks of kvBlockSize positions, kStrideB /
  // vStrideB apart; key j of batch item b (after keyRows) lies in block blockTables[b * blockTableWidth
  // + j / kvBlockSize], at row j % kvBlockSize. Every entry of the table must name a block.
  int64_t kvBlockSize = 0;
  const int32_t* blockTables = nullptr;
  int64_t blockTableWidth = 0;
};

// out = softmax(scale q k^T + mask) v, rows with no allowed key give zeros. Runs on the thread pool.
void attention(const KernelTable& kernels, const AttentionProblem& problem);

// The soft weights softmax(scale q k^T + mask), materialised into weights[((b*heads + h)*Lq + i)*Lk + j]
// (0 for a fully masked row). For inspection, not speed; p.v, p.out and dv are ignored.
void attentionWeights(const KernelTable& kernels, const AttentionProblem& problem, float* weights);

}  // namespace sa
