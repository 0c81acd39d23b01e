// Bahdanau / Luong inner loops for AVX-512: 16 energies' terms per step, tanh from exp2.
#include <cstdint>

#include "kernels/seq2seq_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/exp_avx512.h"
#include "kernels/common/tanh_poly.h"

namespace sa {
namespace {

inline __m512 tanh16(__m512 x) {
  using namespace tanhpoly;
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(t13);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(t11));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(t9));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(t7));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(t5));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(t3));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, x2), x, x);
  // minps returns its second operand when one is NaN: ax second keeps NaN.
  const __m512 axc = _mm512_min_ps(_mm512_set1_ps(kClamp), ax);
  const __m512 e = avx512::exp2(_mm512_mul_ps(axc, _mm512_set1_ps(kTwoLog2e)));
  const __m512 big = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
  const __m512 signedBig = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big),
      _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(0x80000000u)))));
  const __mmask16 isSmall = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(kSmall), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(isSmall, signedBig, small);
}

float tanhDotAvx512(const float* x, const float* y, const float* v, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t a = 0;
  for (; a + 16 <= n; a += 16) {
    const __m512 t = tanh16(_mm512_add_ps(_mm512_loadu_ps(x + a), _mm512_loadu_ps(y + a)));
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(v + a), t, acc);
  }
  if (a < n) {  // masked tail: never reads past n
    const __mmask16 m = static_cast<__mmask16>((1u << (n - a)) - 1u);
    const __m512 t = tanh16(_mm512_add_ps(_mm512_maskz_loadu_ps(m, x + a), _mm512_maskz_loadu_ps(m, y + a)));
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, v + a), t, acc);
  }
  return _mm512_reduce_add_ps(acc);
}

void axpyAvx512(float alpha, const float* x, float* y, int64_t n) {
  const __m512 al = _mm512_set1_ps(alpha);
  int64_t e = 0;
  for (; e + 16 <= n; e += 16) _mm512_storeu_ps(y + e, _mm512_fmadd_ps(al, _mm512_loadu_ps(x + e), _mm512_loadu_ps(y + e)));
  if (e < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - e)) - 1u);
    _mm512_mask_storeu_ps(y + e, m, _mm512_fmadd_ps(al, _mm512_maskz_loadu_ps(m, x + e), _mm512_maskz_loadu_ps(m, y + e)));
  }
}

}  // namespace

const Seq2SeqKernels* seq2seqKernelsAvx512() {
  static const Seq2SeqKernels k{tanhDotAvx512, axpyAvx512};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const Seq2SeqKernels* seq2seqKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
