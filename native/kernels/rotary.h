// Rotary position embedding (RoPE, Su et al. 2021): each pair of a head's features is rotated by
// the angle pos * base^(-2i / rotaryDim), so that q . k depends on the positions only through
// their difference. Angles, cosines and sines are computed in double per position and shared by
// every head at that position.
#pragma once
#include <cstdint>

#include "kernels/rotary_kernels.h"
#include "runtime/dispatch.h"

namespace sa {

struct RotaryProblem {
  int64_t batch = 0, heads = 0, L = 0, d = 0;
  int64_t rotaryDim = 0;  // even, <= d: the first rotaryDim features rotate, the rest are copied
  double base = 10000.0;
  bool interleaved = false;  // GPT-J pairs (2i, 2i + 1); else half-split (i, i + rotaryDim / 2)
  // Position of token l of batch item b: positions[b * positionsStrideB + l] when positions is
  // given (positionsStrideB 0: shared by the batch), else offset + l.
  const int32_t* positions = nullptr;
  int64_t positionsStrideB = 0;
  int64_t offset = 0;
  // Element (b, h, l, e) at x[b * xStrideB + h * xStrideH + l * xStrideL + e]; same for out.
  const float* x = nullptr;
  int64_t xStrideB = 0, xStrideH = 0, xStrideL = 0;
  float* out = nullptr;
  int64_t oStrideB = 0, oStrideH = 0, oStrideL = 0;
};

void rotaryEmbedding(const KernelTable& kernels, const RotaryProblem& problem);

}  // namespace sa
