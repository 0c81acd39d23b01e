// The C store of the arm64 half-precision GEMM tiles (matmul_bf16_neon.cc, matmul_f16_neon.cc): M rows
// of 12 float32 sums in 3 vectors each, added to C when accumulating, plus the bias, columns past n
// untouched. Plain NEON, inlined into the tiles' target regions: include after <arm_neon.h> and
// kernels/common/unroll.h.
#pragma once
#include <algorithm>

namespace sa {
namespace {

template <int M>
inline void storeTileRows(float32x4_t (&acc)[M][3], float* c, int64_t ldc, int n, bool accumulate, const float* bias) {
  SA_UNROLL_FULL
  for (int i = 0; i < M; ++i) {
    float* row = c + i * ldc;
    SA_UNROLL_FULL
    for (int v = 0; v < 3; ++v) {
      const int cols = std::clamp(n - 4 * v, 0, 4);
      if (cols == 4) {
        float32x4_t sum = acc[i][v];
        if (accumulate) sum = vaddq_f32(vld1q_f32(row + 4 * v), sum);
        if (bias != nullptr) sum = vaddq_f32(sum, vld1q_f32(bias + 4 * v));
        vst1q_f32(row + 4 * v, sum);
      } else if (cols > 0) {
        float part[4];
        vst1q_f32(part, acc[i][v]);
        for (int j = 0; j < cols; ++j) {
          float sum = part[j];
          if (accumulate) sum = row[4 * v + j] + sum;
          if (bias != nullptr) sum += bias[4 * v + j];
          row[4 * v + j] = sum;
        }
      }
    }
  }
}

}  // namespace
}  // namespace sa
