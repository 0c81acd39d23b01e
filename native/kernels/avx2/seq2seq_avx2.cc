// Bahdanau / Luong inner loops for AVX2 + FMA: 8 lanes, tanh from exp2, scalar tail.
#include <cmath>
#include <cstdint>

#include "kernels/seq2seq_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/exp_avx2.h"
#include "kernels/common/tanh_poly.h"

namespace sa {
namespace {

inline __m256 tanh8(__m256 x) {
  using namespace tanhpoly;
  const __m256 signBit = _mm256_set1_ps(-0.0f);
  const __m256 ax = _mm256_andnot_ps(signBit, x);
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(t13);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(t11));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(t9));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(t7));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(t5));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(t3));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), x, x);
  const __m256 axc = _mm256_min_ps(_mm256_set1_ps(kClamp), ax);  // NaN stays (second operand)
  const __m256 e = avx2::exp2(_mm256_mul_ps(axc, _mm256_set1_ps(kTwoLog2e)));
  const __m256 big = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  const __m256 signedBig = _mm256_or_ps(big, _mm256_and_ps(x, signBit));
  const __m256 isSmall = _mm256_cmp_ps(ax, _mm256_set1_ps(kSmall), _CMP_LT_OQ);
  return _mm256_blendv_ps(signedBig, small, isSmall);
}

float tanhDotAvx2(const float* x, const float* y, const float* v, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t a = 0;
  for (; a + 8 <= n; a += 8) {
    const __m256 t = tanh8(_mm256_add_ps(_mm256_loadu_ps(x + a), _mm256_loadu_ps(y + a)));
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(v + a), t, acc);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float s = 0.0f;
  for (float l : lanes) s += l;
  for (; a < n; ++a) s += v[a] * std::tanh(x[a] + y[a]);
  return s;
}

void axpyAvx2(float alpha, const float* x, float* y, int64_t n) {
  const __m256 al = _mm256_set1_ps(alpha);
  int64_t e = 0;
  for (; e + 8 <= n; e += 8) _mm256_storeu_ps(y + e, _mm256_fmadd_ps(al, _mm256_loadu_ps(x + e), _mm256_loadu_ps(y + e)));
  for (; e < n; ++e) y[e] += alpha * x[e];
}

}  // namespace

const Seq2SeqKernels* seq2seqKernelsAvx2() {
  static const Seq2SeqKernels k{tanhDotAvx2, axpyAvx2};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const Seq2SeqKernels* seq2seqKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
