// Bahdanau / Luong attention (docs/SPEC.md sections 4-5): one decoder state per batch item against
// T encoder states. Scores are either computed here additively (e_j = v . tanh(W1 h_j + W2 s), with
// W1 h_j and W2 s already projected by the matmul) or given (Luong dot / general, scored by the
// matmul); then a softmax over the valid positions and the context sum_j a_j h_j.
#pragma once
#include <cstdint>

#include "runtime/dispatch.h"

namespace sa {

struct Seq2SeqProblem {
  int64_t batch = 0, T = 0, keyDim = 0;
  const float* keys = nullptr;  // h_j: keys[b * keysStrideB + j * keysStrideT + e]
  int64_t keysStrideB = 0, keysStrideT = 0;
  // Additive scoring when keysProj != nullptr: hidden width A.
  int64_t hidden = 0;
  const float* keysProj = nullptr;  // W1 h_j: [b * kpStrideB + j * kpStrideT + a]
  int64_t kpStrideB = 0, kpStrideT = 0;
  const float* queryProj = nullptr;  // W2 s: [b * qpStrideB + a]
  int64_t qpStrideB = 0;
  const float* v = nullptr;          // [hidden]
  const int32_t* lengths = nullptr;  // [batch] valid positions, or nullptr (all T)
  float* scores = nullptr;           // [batch, T]: written (additive) for every j, padding included; else read
  float* weights = nullptr;          // [batch, T]: 0 at padding and for rows with no valid position
  float* context = nullptr;          // [batch, keyDim]
};

void seq2seqAttention(const KernelTable& kernels, const Seq2SeqProblem& problem);

}  // namespace sa
