// Rotary embedding of one row for NEON: 4 pairs (half-split) or 2 pairs (interleaved) per step,
// scalar tails.
#include <cstdint>

#include "kernels/rotary_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

namespace sa {
namespace {

void rotateHalfNeon(const float* x, float* y, const float* cos, const float* sin, int64_t half) {
  int64_t i = 0;
  for (; i + 4 <= half; i += 4) {
    const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + half + i);
    const float32x4_t c = vld1q_f32(cos + i), s = vld1q_f32(sin + i);
    vst1q_f32(y + i, vfmsq_f32(vmulq_f32(a, c), b, s));
    vst1q_f32(y + half + i, vfmaq_f32(vmulq_f32(b, c), a, s));
  }
  for (; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    y[i] = a * cos[i] - b * sin[i];
    y[i + half] = b * cos[i] + a * sin[i];
  }
}

// y = x cosDup + swapPairs(x) sinAlt; vrev64q swaps the two floats of every pair.
void rotatePairsNeon(const float* x, float* y, const float* cosDup, const float* sinAlt, int64_t d) {
  int64_t i = 0;
  for (; i + 4 <= d; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    vst1q_f32(y + i, vfmaq_f32(vmulq_f32(v, vld1q_f32(cosDup + i)), vrev64q_f32(v), vld1q_f32(sinAlt + i)));
  }
  for (; i + 1 < d; i += 2) {
    const float a = x[i], b = x[i + 1];
    y[i] = a * cosDup[i] + b * sinAlt[i];
    y[i + 1] = b * cosDup[i + 1] + a * sinAlt[i + 1];
  }
}

}  // namespace

const RotaryKernels* rotaryKernelsNeon() {
  static const RotaryKernels k{rotateHalfNeon, rotatePairsNeon};
  return &k;
}

}  // namespace sa
#else
namespace sa {
const RotaryKernels* rotaryKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
