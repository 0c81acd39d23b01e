// Vector 2^x for AVX-512 (16 lanes). Include inside SA_TARGET_AVX512_BEGIN / SA_TARGET_END, after
// <immintrin.h>. Polynomial and error bound: kernels/common/exp_poly.h (max 0.95 ulp measured).
//
// Domain: finite x <= 127, and -inf. x < -126 (and -inf) gives exactly 0; NaN gives NaN (the flush
// test is an ordered "<", false for NaN). vscalefps applies 2^n without integer tricks.
#pragma once
#include "kernels/common/exp_poly.h"

namespace sa {
namespace avx512 {

inline __m512 exp2(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);  // NaN for x = -inf; those lanes are flushed below
  __m512 p = _mm512_set1_ps(exp2poly::c6);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(exp2poly::c5));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(exp2poly::c4));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(exp2poly::c3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(exp2poly::c2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(exp2poly::c1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(exp2poly::kFlushBelow), _CMP_NLT_UQ);
  return _mm512_maskz_scalef_ps(keep, p, n);
}

}  // namespace avx512
}  // namespace sa
