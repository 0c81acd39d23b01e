// The soft alignment of decomposable attention (Parikh et al. 2016), from one score matrix
// e = a b^T (computed by the matmul into weightsAB): the softmax over each row of e (a's tokens
// attending to b) and over each column (b's tokens attending to a), masked.
#pragma once
#include <cstdint>

#include "runtime/dispatch.h"

namespace sa {

struct SoftAlignProblem {
  int64_t batch = 0, La = 0, Lb = 0;
  // [batch, La, Lb] contiguous: e on entry; on return softmax_j over each row (the weights of a's
  // token i over b's tokens j).
  float* weightsAB = nullptr;
  // [batch, Lb, La] contiguous, written: softmax_i over each column of e, stored transposed (the
  // weights of b's token j over a's tokens i).
  float* weightsBA = nullptr;
  // [batch, La] and [batch, Lb], nonzero = a valid token; nullptr = all valid. Token i of batch item
  // b at maskA[b * maskAStrideB + i * maskAStrideL]. A pair with an invalid token gets weight 0; a
  // row with no valid partner (or an invalid token's own row) is all zeros.
  const uint8_t* maskA = nullptr;
  int64_t maskAStrideB = 0, maskAStrideL = 0;
  const uint8_t* maskB = nullptr;
  int64_t maskBStrideB = 0, maskBStrideL = 0;
};

void softAlignWeights(const KernelTable& kernels, const SoftAlignProblem& problem);

}  // namespace sa
