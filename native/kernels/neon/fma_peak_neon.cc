// FP32 FMA peak probe for NEON: 16 independent 4-lane chains (4 FMA pipes x 4 cycles on big cores).
#include <cstdint>

#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

namespace sa {
double fmaPeakLoopNeon(int64_t iterations) {
  float32x4_t acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = vdupq_n_f32(0.001f * static_cast<float>(i));
  const float32x4_t a = vdupq_n_f32(0.9999f), b = vdupq_n_f32(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 16; ++i) acc[i] = vfmaq_f32(b, acc[i], a);
  }
  float32x4_t s = acc[0];
  for (int i = 1; i < 16; ++i) s = vaddq_f32(s, acc[i]);
  volatile float sink = vaddvq_f32(s);
  (void)sink;
  return static_cast<double>(iterations) * 16 * 4 * 2;
}
}  // namespace sa
#else
namespace sa {
double fmaPeakLoopNeon(int64_t) { return 0; }
}  // namespace sa
#endif
