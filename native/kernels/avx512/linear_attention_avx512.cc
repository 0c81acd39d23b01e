// Linear attention's feature map for AVX-512, 16 lanes at a time (exp from exp2); the tail is a
// masked load and store, so nothing past x[n - 1] is touched. The products run on the matmul
// micro-kernel (matmulInPlace).
#include <cstdint>

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

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsAvx512() {
  static const LinearAttentionKernels k{featureMapAvx512};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
