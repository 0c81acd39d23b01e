// Vector 2^x for AVX2 + FMA (8 lanes). Include inside SA_TARGET_AVX2_BEGIN / SA_TARGET_END, after
// <immintrin.h>. Polynomial and error bound: kernels/common/exp_poly.h (max 0.93 ulp measured).
//
// Domain: finite x, and -inf. x < -126 (and -inf) gives exactly 0, x >= 128 gives +inf, NaN gives
// NaN. 2^n is built in the exponent field: ((n + 127) << 23) reinterpreted, exact for
// n in [-126, 128] (n = 128 sets the exponent field to 255 with a zero fraction: +inf).
#pragma once
#include "kernels/common/exp_poly.h"

namespace sa {
namespace avx2 {

inline __m256 exp2(__m256 x) {
  // maxps/minps return their second operand when either is NaN: keep x second so NaN survives.
  __m256 xc = _mm256_max_ps(_mm256_set1_ps(-127.0f), x);
  xc = _mm256_min_ps(_mm256_set1_ps(128.0f), xc);
  const __m256 n = _mm256_round_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(xc, n);
  __m256 p = _mm256_set1_ps(exp2poly::c6);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(exp2poly::c5));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(exp2poly::c4));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(exp2poly::c3));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(exp2poly::c2));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(exp2poly::c1));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 r = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  const __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(exp2poly::kFlushBelow), _CMP_NLT_UQ);
  return _mm256_and_ps(r, keep);
}

}  // namespace avx2
}  // namespace sa
