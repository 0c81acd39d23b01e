// Conversions (kernels/convert.h) for NEON: float16 by fcvtn / fcvtl (the FPCR's rounding mode,
// nearest even); bfloat16 by integer rounding of the float32 bits, four elements a step.
#include <cstdint>

#include "kernels/convert.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/convert-inl.h"

namespace sa {
namespace {

void floatToBf16Neon(const float* src, uint16_t* dst, int64_t n) {
  convertInGroups<4>(src, dst, n, [](const float* s, uint16_t* d) {
    const float32x4_t v = vld1q_f32(s);
    const uint32x4_t x = vreinterpretq_u32_f32(v);
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
    const uint32x4_t rounded = vaddq_u32(x, vaddq_u32(lsb, vdupq_n_u32(0x7fff)));
    const uint32x4_t quiet = vorrq_u32(x, vdupq_n_u32(0x00400000));
    const uint32x4_t r = vbslq_u32(vceqq_f32(v, v), rounded, quiet);  // v == v: not NaN
    vst1_u16(d, vshrn_n_u32(r, 16));
  });
}

void floatToHalfNeon(const float* src, uint16_t* dst, int64_t n) {
  convertInGroups<4>(
      src, dst, n, [](const float* s, uint16_t* d) { vst1_u16(d, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(s)))); });
}

void bf16ToFloatNeon(const uint16_t* src, float* dst, int64_t n) {
  convertInGroups<4>(src, dst, n, [](const uint16_t* s, float* d) {
    vst1q_f32(d, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(s), 16)));
  });
}

void halfToFloatNeon(const uint16_t* src, float* dst, int64_t n) {
  convertInGroups<4>(
      src, dst, n, [](const uint16_t* s, float* d) { vst1q_f32(d, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(s)))); });
}

}  // namespace

const ConvertKernels* convertKernelsNeon() {
  static const ConvertKernels k{floatToBf16Neon, floatToHalfNeon, bf16ToFloatNeon, halfToFloatNeon};
  return &k;
}

}  // namespace sa
#else
namespace sa {
const ConvertKernels* convertKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
