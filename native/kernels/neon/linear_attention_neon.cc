// Linear attention's feature map for NEON, 4 lanes at a time (exp from exp2). The products run on
// the matmul micro-kernel (matmulInPlace).
#include <cmath>
#include <cstdint>

#include "kernels/linear_attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/exp_neon.h"

namespace sa {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

inline float32x4_t featureMap4(float32x4_t x, FeatureMap map) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
  // FMAX/FMIN propagate NaN: relu of NaN would be NaN, so select instead (NaN -> 0, as the scalar).
  if (map == FeatureMap::Relu) return vbslq_f32(vcgtq_f32(x, zero), x, zero);
  const float32x4_t e = neon::exp2(vmulq_f32(vminq_f32(x, zero), vdupq_n_f32(kLog2e)));  // NaN stays NaN
  return vbslq_f32(vcgtq_f32(x, zero), vaddq_f32(x, vdupq_n_f32(1.0f)), e);
}

void featureMapNeon(const float* x, float* y, int64_t n, FeatureMap map) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, featureMap4(vld1q_f32(x + i), map));
  for (; i < n; ++i) {
    const float v = x[i];
    y[i] = map == FeatureMap::Relu ? (v > 0.0f ? v : 0.0f) : (v > 0.0f ? v + 1.0f : std::exp(v));
  }
}

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsNeon() {
  static const LinearAttentionKernels k{featureMapNeon};
  return &k;
}

}  // namespace sa
#else
namespace sa {
const LinearAttentionKernels* linearAttentionKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
