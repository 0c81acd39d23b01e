// Linear attention inner loops for NEON: the feature map 4 lanes at a time (exp from exp2), and a
// register-blocked product of 6 rows x 16 columns (24 q-register accumulators + 4 for a row of B +
// 1 broadcast = 29 of 32). Columns that do not fill a 4-lane vector are done one at a time.
#include <cmath>
#include <cstdint>

#include "kernels/common/unroll.h"
#include "kernels/linear_attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/exp_neon.h"

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kRows = 6;
constexpr int kVectors = 4;

inline float32x4_t featureMap4(float32x4_t x, FeatureMap map) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
  // FMAX/FMIN propagate NaN: relu of NaN would be NaN, so select instead (NaN -> 0, as the scalar).
  if (map == FeatureMap::Relu) return vbslq_f32(vcgtq_f32(x, zero), x, zero);
  const float32x4_t e = neon::exp2(vmulq_f32(vminq_f32(x, zero), vdupq_n_f32(kLog2e)));  // NaN stays NaN
  return vbslq_f32(vcgtq_f32(x, zero), vaddq_f32(x, vdupq_n_f32(1.0f)), e);
}

void featureMapNeon(const float* x, float* y, int64_t n, FeatureMap map) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, featureMap4(vld1q_f32(x + i), map));
  for (; i < n; ++i) {
    const float v = x[i];
    y[i] = map == FeatureMap::Relu ? (v > 0.0f ? v : 0.0f) : (v > 0.0f ? v + 1.0f : std::exp(v));
  }
}

template <int MR, int NV>
void tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  float32x4_t c[MR][NV];
  SA_UNROLL_FULL
  for (int r = 0; r < MR; ++r)
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) c[r][v] = accumulate ? vld1q_f32(C + r * ldc + 4 * v) : vdupq_n_f32(0.0f);
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    float32x4_t bv[NV];
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) bv[v] = vld1q_f32(b + 4 * v);
    SA_UNROLL_FULL
    for (int r = 0; r < MR; ++r) {
      const float a = A[r * lda + k];
      SA_UNROLL_FULL
      for (int v = 0; v < NV; ++v) c[r][v] = vfmaq_n_f32(c[r][v], bv[v], a);
    }
  }
  SA_UNROLL_FULL
  for (int r = 0; r < MR; ++r)
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) vst1q_f32(C + r * ldc + 4 * v, c[r][v]);
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool);

template <int MR>
TileFn tileFor(int nv) {
  switch (nv) {
    case 1: return tile<MR, 1>;
    case 2: return tile<MR, 2>;
    case 3: return tile<MR, 3>;
    default: return tile<MR, 4>;
  }
}

TileFn tileFor(int mr, int nv) {
  switch (mr) {
    case 1: return tileFor<1>(nv);
    case 2: return tileFor<2>(nv);
    case 3: return tileFor<3>(nv);
    case 4: return tileFor<4>(nv);
    case 5: return tileFor<5>(nv);
    default: return tileFor<6>(nv);
  }
}

void gemmNeon(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc, bool accumulate) {
  const int64_t vectorCols = N / 4 * 4;
  for (int64_t n0 = 0; n0 < vectorCols; n0 += 4 * kVectors) {
    const int64_t width = vectorCols - n0 < 4 * kVectors ? vectorCols - n0 : 4 * kVectors;
    const int nv = static_cast<int>(width / 4);
    const TileFn full = tileFor(kRows, nv);
    int64_t m0 = 0;
    for (; m0 + kRows <= M; m0 += kRows) full(K, A + m0 * lda, lda, B + n0, ldb, C + m0 * ldc + n0, ldc, accumulate);
    if (m0 < M) tileFor(static_cast<int>(M - m0), nv)(K, A + m0 * lda, lda, B + n0, ldb, C + m0 * ldc + n0, ldc, accumulate);
  }
  for (int64_t n = vectorCols; n < N; ++n) {  // the last N % 4 columns
    for (int64_t m = 0; m < M; ++m) {
      float s = accumulate ? C[m * ldc + n] : 0.0f;
      for (int64_t k = 0; k < K; ++k) s += A[m * lda + k] * B[k * ldb + n];
      C[m * ldc + n] = s;
    }
  }
}

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsNeon() {
  static const LinearAttentionKernels k{featureMapNeon, gemmNeon};
  return &k;
}

}  // namespace sa
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
