// Rotary embedding of one row for AVX-512: 16 pairs (half-split) or 8 pairs (interleaved) per
// step; masked tails never touch memory past the row.
#include <cstdint>

#include "kernels/rotary_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
namespace sa {
namespace {

inline __mmask16 tailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

void rotateHalfAvx512(const float* x, float* y, const float* cos, const float* sin, int64_t half) {
  int64_t i = 0;
  for (; i + 16 <= half; i += 16) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + half + i);
    const __m512 c = _mm512_loadu_ps(cos + i), s = _mm512_loadu_ps(sin + i);
    _mm512_storeu_ps(y + i, _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, s)));
    _mm512_storeu_ps(y + half + i, _mm512_fmadd_ps(b, c, _mm512_mul_ps(a, s)));
  }
  if (i < half) {
    const __mmask16 m = tailMask(half - i);
    const __m512 a = _mm512_maskz_loadu_ps(m, x + i), b = _mm512_maskz_loadu_ps(m, x + half + i);
    const __m512 c = _mm512_maskz_loadu_ps(m, cos + i), s = _mm512_maskz_loadu_ps(m, sin + i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, s)));
    _mm512_mask_storeu_ps(y + half + i, m, _mm512_fmadd_ps(b, c, _mm512_mul_ps(a, s)));
  }
}

// y = x cosDup + swapPairs(x) sinAlt; vpermilps 0xB1 swaps the two floats of every pair in place.
void rotatePairsAvx512(const float* x, float* y, const float* cosDup, const float* sinAlt, int64_t d) {
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 swapped = _mm512_permute_ps(v, 0xB1);
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(v, _mm512_loadu_ps(cosDup + i), _mm512_mul_ps(swapped, _mm512_loadu_ps(sinAlt + i))));
  }
  if (i < d) {  // d even: the tail holds whole pairs
    const __mmask16 m = tailMask(d - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 swapped = _mm512_permute_ps(v, 0xB1);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, cosDup + i),
                                                    _mm512_mul_ps(swapped, _mm512_maskz_loadu_ps(m, sinAlt + i))));
  }
}

}  // namespace

const RotaryKernels* rotaryKernelsAvx512() {
  static const RotaryKernels k{rotateHalfAvx512, rotatePairsAvx512};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const RotaryKernels* rotaryKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
