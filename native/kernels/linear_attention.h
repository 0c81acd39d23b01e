// Linear attention, "fast weight programmers" (Schlag et al. 2021; Katharopoulos et al. 2020):
//   out_i = (S_i^T phi(q_i)) / (z_i . phi(q_i) + eps),
//   S_i = sum_j phi(k_j) v_j^T  (a dk x dv matrix: the fast weights),  z_i = sum_j phi(k_j),
// summed over j <= i (causal) or over every key (non-causal). O(L dk dv) time per head and O(dk dv)
// state; the Lq x Lk score matrix never exists (only one chunk x chunk block of it, per thread).
#pragma once
#include <cstdint>

#include "kernels/linear_attention_kernels.h"
#include "runtime/dispatch.h"

namespace sa {

// Tokens per chunk of the causal form: the intra-chunk part is a masked [C, C] product, the rest
// goes through the carried state. 64 keeps a chunk's phi(Q), phi(K)^T and score block (16 KiB each
// at d = 64) plus the state (16 KiB) in L1/L2, and the intra-chunk work (C (dk + dv) / 2 per token)
// no larger than the state's (2 dk dv per token).
constexpr int64_t kLinearAttentionChunk = 64;

// The state of one head: S (row-major [dk, dv], S[k * dv + c]) followed by z [dk].
inline int64_t linearStateFloats(int64_t dk, int64_t dv) { return dk * dv + dk; }

struct LinearAttentionProblem {
  int64_t batch = 0, heads = 0;
  int64_t Lq = 0, Lk = 0;  // causal: Lq == Lk
  int64_t dk = 0, dv = 0;
  FeatureMap featureMap = FeatureMap::EluPlusOne;
  bool causal = false;
  float eps = 1e-6f;
  // Element (b, h, i, e) of q at q[b * qStrideB + h * qStrideH + i * qStrideL + e]; same for k, v, out.
  const float* q = nullptr;
  int64_t qStrideB = 0, qStrideH = 0, qStrideL = 0;
  const float* k = nullptr;
  int64_t kStrideB = 0, kStrideH = 0, kStrideL = 0;
  const float* v = nullptr;
  int64_t vStrideB = 0, vStrideH = 0, vStrideL = 0;
  float* out = nullptr;
  int64_t oStrideB = 0, oStrideH = 0, oStrideL = 0;
  // Causal only, optional: [batch * heads] states of linearStateFloats(dk, dv) floats each (head
  // b * heads + h), read as the state before the first token and overwritten with the state after
  // the last (the streaming form). nullptr: start from zero, keep nothing.
  float* state = nullptr;
};

// Throws std::invalid_argument on inconsistent sizes (the binding checks them first).
void linearAttention(const KernelTable& kernels, const LinearAttentionProblem& problem);

}  // namespace sa
