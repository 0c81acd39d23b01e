// Vector 2^x for NEON (4 lanes, AArch64): VecNeon::exp2 (kernels/common/vec_neon.h) under the name the
// kernels not written over the traits call. Include after <arm_neon.h>.
#pragma once
#include "kernels/common/vec_neon.h"

namespace sa {
namespace neon {
inline float32x4_t exp2(float32x4_t x) { return VecNeon::exp2(x); }
}  // namespace neon
}  // namespace sa
