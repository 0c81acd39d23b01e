// Rotary embedding of one row for AVX2 + FMA: 8 pairs (half-split) or 4 pairs (interleaved) per
// step, scalar tails.
#include <cstdint>

#include "kernels/rotary_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
namespace sa {
namespace {

void rotateHalfAvx2(const float* x, float* y, const float* cos, const float* sin, int64_t half) {
  int64_t i = 0;
  for (; i + 8 <= half; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + half + i);
    const __m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
    _mm256_storeu_ps(y + i, _mm256_fmsub_ps(a, c, _mm256_mul_ps(b, s)));
    _mm256_storeu_ps(y + half + i, _mm256_fmadd_ps(b, c, _mm256_mul_ps(a, s)));
  }
  for (; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    y[i] = a * cos[i] - b * sin[i];
    y[i + half] = b * cos[i] + a * sin[i];
  }
}

// y = x cosDup + swapPairs(x) sinAlt; vpermilps 0xB1 swaps the two floats of every pair in place.
void rotatePairsAvx2(const float* x, float* y, const float* cosDup, const float* sinAlt, int64_t d) {
  int64_t i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 swapped = _mm256_permute_ps(v, 0xB1);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(v, _mm256_loadu_ps(cosDup + i), _mm256_mul_ps(swapped, _mm256_loadu_ps(sinAlt + i))));
  }
  for (; i + 1 < d; i += 2) {
    const float a = x[i], b = x[i + 1];
    y[i] = a * cosDup[i] + b * sinAlt[i];
    y[i + 1] = b * cosDup[i + 1] + a * sinAlt[i + 1];
  }
}

}  // namespace

const RotaryKernels* rotaryKernelsAvx2() {
  static const RotaryKernels k{rotateHalfAvx2, rotatePairsAvx2};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const RotaryKernels* rotaryKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
