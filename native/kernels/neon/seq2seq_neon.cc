// Bahdanau / Luong inner loops for NEON: 4 lanes, tanh from exp2, scalar tail.
#include <cmath>
#include <cstdint>

#include "kernels/seq2seq_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/exp_neon.h"
#include "kernels/common/tanh_poly.h"

namespace sa {
namespace {

inline float32x4_t tanh4(float32x4_t x) {
  using namespace tanhpoly;
  const float32x4_t ax = vabsq_f32(x);
  const float32x4_t x2 = vmulq_f32(x, x);
  float32x4_t p = vdupq_n_f32(t13);
  p = vfmaq_f32(vdupq_n_f32(t11), p, x2);
  p = vfmaq_f32(vdupq_n_f32(t9), p, x2);
  p = vfmaq_f32(vdupq_n_f32(t7), p, x2);
  p = vfmaq_f32(vdupq_n_f32(t5), p, x2);
  p = vfmaq_f32(vdupq_n_f32(t3), p, x2);
  const float32x4_t small = vfmaq_f32(x, vmulq_f32(p, x2), x);
  const float32x4_t axc = vminq_f32(ax, vdupq_n_f32(kClamp));  // vminq propagates NaN
  const float32x4_t e = neon::exp2(vmulq_f32(axc, vdupq_n_f32(kTwoLog2e)));
  const float32x4_t big = vsubq_f32(vdupq_n_f32(1.0f), vdivq_f32(vdupq_n_f32(2.0f), vaddq_f32(e, vdupq_n_f32(1.0f))));
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
  const float32x4_t signedBig = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(big), sign));
  return vbslq_f32(vcltq_f32(ax, vdupq_n_f32(kSmall)), small, signedBig);
}

float tanhDotNeon(const float* x, const float* y, const float* v, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0.0f);
  int64_t a = 0;
  for (; a + 4 <= n; a += 4) acc = vfmaq_f32(acc, vld1q_f32(v + a), tanh4(vaddq_f32(vld1q_f32(x + a), vld1q_f32(y + a))));
  float s = vaddvq_f32(acc);
  for (; a < n; ++a) s += v[a] * std::tanh(x[a] + y[a]);
  return s;
}

void axpyNeon(float alpha, const float* x, float* y, int64_t n) {
  int64_t e = 0;
  for (; e + 4 <= n; e += 4) vst1q_f32(y + e, vfmaq_n_f32(vld1q_f32(y + e), vld1q_f32(x + e), alpha));
  for (; e < n; ++e) y[e] += alpha * x[e];
}

}  // namespace

const Seq2SeqKernels* seq2seqKernelsNeon() {
  static const Seq2SeqKernels k{tanhDotNeon, axpyNeon};
  return &k;
}

}  // namespace sa
#else
namespace sa {
const Seq2SeqKernels* seq2seqKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
