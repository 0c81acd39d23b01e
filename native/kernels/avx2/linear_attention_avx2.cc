// Linear attention inner loops for AVX2 + FMA: the feature map 8 lanes at a time (exp from exp2),
// and a register-blocked product of 4 rows x 24 columns (12 ymm accumulators + 3 for a row of B +
// 1 broadcast = the 16 registers). Column tails use vmaskmovps, which never touches masked-off
// elements, so nothing past the N columns of a row is read or written.
#include <cmath>
#include <cstdint>

#include "kernels/common/unroll.h"
#include "kernels/linear_attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/exp_avx2.h"

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kRows = 4;
constexpr int kVectors = 3;

inline __m256 featureMap8(__m256 x, FeatureMap map) {
  const __m256 zero = _mm256_setzero_ps();
  if (map == FeatureMap::Relu) return _mm256_max_ps(x, zero);  // NaN -> second operand (0), as the scalar
  // elu + 1 (see the AVX-512 file): exponent min(0, x) keeps a NaN x (second operand).
  const __m256 e = avx2::exp2(_mm256_mul_ps(_mm256_min_ps(zero, x), _mm256_set1_ps(kLog2e)));
  return _mm256_blendv_ps(e, _mm256_add_ps(x, _mm256_set1_ps(1.0f)), _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
}

void featureMapAvx2(const float* x, float* y, int64_t n, FeatureMap map) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, featureMap8(_mm256_loadu_ps(x + i), map));
  for (; i < n; ++i) {
    const float v = x[i];
    y[i] = map == FeatureMap::Relu ? (v > 0.0f ? v : 0.0f) : (v > 0.0f ? v + 1.0f : std::exp(v));
  }
}

template <int MR, int NV>
void tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate,
          __m256i last) {
  __m256 c[MR][NV];
  SA_UNROLL_FULL
  for (int r = 0; r < MR; ++r) {
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) {
      const float* p = C + r * ldc + 8 * v;
      c[r][v] = !accumulate ? _mm256_setzero_ps() : v == NV - 1 ? _mm256_maskload_ps(p, last) : _mm256_loadu_ps(p);
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    __m256 bv[NV];
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) bv[v] = v == NV - 1 ? _mm256_maskload_ps(b + 8 * v, last) : _mm256_loadu_ps(b + 8 * v);
    SA_UNROLL_FULL
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(A + r * lda + k);
      SA_UNROLL_FULL
      for (int v = 0; v < NV; ++v) c[r][v] = _mm256_fmadd_ps(a, bv[v], c[r][v]);
    }
  }
  SA_UNROLL_FULL
  for (int r = 0; r < MR; ++r) {
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) {
      float* p = C + r * ldc + 8 * v;
      if (v == NV - 1) {
        _mm256_maskstore_ps(p, last, c[r][v]);
      } else {
        _mm256_storeu_ps(p, c[r][v]);
      }
    }
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool, __m256i);

template <int MR>
TileFn tileFor(int nv) {
  switch (nv) {
    case 1: return tile<MR, 1>;
    case 2: return tile<MR, 2>;
    default: return tile<MR, 3>;
  }
}

TileFn tileFor(int mr, int nv) {
  switch (mr) {
    case 1: return tileFor<1>(nv);
    case 2: return tileFor<2>(nv);
    case 3: return tileFor<3>(nv);
    default: return tileFor<4>(nv);
  }
}

void gemmAvx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
              int64_t ldc, bool accumulate) {
  for (int64_t n0 = 0; n0 < N; n0 += 8 * kVectors) {
    const int64_t width = N - n0 < 8 * kVectors ? N - n0 : 8 * kVectors;
    const int nv = static_cast<int>((width + 7) / 8);
    const int64_t rem = width - 8 * (nv - 1);
    alignas(32) int32_t lanes[8];
    for (int l = 0; l < 8; ++l) lanes[l] = l < rem ? -1 : 0;
    const __m256i last = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
    const TileFn full = tileFor(kRows, nv);
    int64_t m0 = 0;
    for (; m0 + kRows <= M; m0 += kRows) full(K, A + m0 * lda, lda, B + n0, ldb, C + m0 * ldc + n0, ldc, accumulate, last);
    if (m0 < M) tileFor(static_cast<int>(M - m0), nv)(K, A + m0 * lda, lda, B + n0, ldb, C + m0 * ldc + n0, ldc, accumulate, last);
  }
}

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsAvx2() {
  static const LinearAttentionKernels k{featureMapAvx2, gemmAvx2};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
