// Linear attention's feature map for AVX2 + FMA, 8 lanes at a time (exp from exp2). The products
// run on the matmul micro-kernel (matmulInPlace).
#include <cmath>
#include <cstdint>

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

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsAvx2() {
  static const LinearAttentionKernels k{featureMapAvx2};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
