// Linear attention inner loops for AVX-512: the feature map 16 lanes at a time (exp from exp2), and
// a register-blocked product of 6 rows x 64 columns (24 zmm accumulators + 4 for a row of B + 1
// broadcast = 29 of the 32 registers). Column tails use masked loads and stores, so nothing past
// the N columns of a row is touched.
#include <cstdint>

#include "kernels/common/unroll.h"
#include "kernels/linear_attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/exp_avx512.h"

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kRows = 6;     // rows of C per register tile
constexpr int kVectors = 4;  // 16-float vectors of C per row of the tile (64 columns)

inline __m512 featureMap16(__m512 x, FeatureMap map) {
  const __m512 zero = _mm512_setzero_ps();
  if (map == FeatureMap::Relu) return _mm512_max_ps(x, zero);  // NaN -> second operand (0), as the scalar
  // elu + 1: x + 1 above 0, exp(x) = 2^(x log2 e) at or below. The exponent is min(0, x), so large x
  // cannot overflow it (those lanes take x + 1); minps returns its second operand for a NaN x, and
  // exp2(NaN) = NaN, as the scalar reference gives.
  const __mmask16 positive = _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ);
  const __m512 e = avx512::exp2(_mm512_mul_ps(_mm512_min_ps(zero, x), _mm512_set1_ps(kLog2e)));
  return _mm512_mask_blend_ps(positive, e, _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
}

void featureMapAvx512(const float* x, float* y, int64_t n, FeatureMap map) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, featureMap16(_mm512_loadu_ps(x + i), map));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, featureMap16(_mm512_maskz_loadu_ps(m, x + i), map));
  }
}

// C[MR rows, NV vectors] (+)= A[MR, K] B[K, NV vectors]; the last vector is masked by `last`.
template <int MR, int NV>
void tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate,
          __mmask16 last) {
  __m512 c[MR][NV];
  SA_UNROLL_FULL
  for (int r = 0; r < MR; ++r) {
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) {
      const float* p = C + r * ldc + 16 * v;
      c[r][v] = !accumulate ? _mm512_setzero_ps() : v == NV - 1 ? _mm512_maskz_loadu_ps(last, p) : _mm512_loadu_ps(p);
    }
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    __m512 bv[NV];
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
    SA_UNROLL_FULL
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + k]);
      SA_UNROLL_FULL
      for (int v = 0; v < NV; ++v) c[r][v] = _mm512_fmadd_ps(a, bv[v], c[r][v]);
    }
  }
  SA_UNROLL_FULL
  for (int r = 0; r < MR; ++r) {
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) {
      float* p = C + r * ldc + 16 * v;
      if (v == NV - 1) {
        _mm512_mask_storeu_ps(p, last, c[r][v]);
      } else {
        _mm512_storeu_ps(p, c[r][v]);
      }
    }
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, bool, __mmask16);

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

void gemmAvx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                int64_t ldc, bool accumulate) {
  // Column panels of 64 outside, rows inside: a [K, 64] panel of B (16 KiB at K = 64) stays in L1
  // while every block of 6 rows streams through it.
  for (int64_t n0 = 0; n0 < N; n0 += 16 * kVectors) {
    const int64_t width = N - n0 < 16 * kVectors ? N - n0 : 16 * kVectors;
    const int nv = static_cast<int>((width + 15) / 16);
    const int64_t rem = width - 16 * (nv - 1);
    const __mmask16 last = static_cast<__mmask16>(rem == 16 ? 0xFFFFu : (1u << rem) - 1u);
    const TileFn full = tileFor(kRows, nv);
    int64_t m0 = 0;
    for (; m0 + kRows <= M; m0 += kRows) full(K, A + m0 * lda, lda, B + n0, ldb, C + m0 * ldc + n0, ldc, accumulate, last);
    if (m0 < M) tileFor(static_cast<int>(M - m0), nv)(K, A + m0 * lda, lda, B + n0, ldb, C + m0 * ldc + n0, ldc, accumulate, last);
  }
}

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsAvx512() {
  static const LinearAttentionKernels k{featureMapAvx512, gemmAvx512};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
