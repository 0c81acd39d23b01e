// Vector 2^x for AVX2 + FMA (8 lanes): VecAvx2::exp2 (kernels/common/vec_avx2.h) under the name the
// kernels not written over the traits call. Include inside SA_TARGET_AVX2_BEGIN / SA_TARGET_END.
#pragma once
#include "kernels/common/vec_avx2.h"

namespace sa {
namespace avx2 {
inline __m256 exp2(__m256 x) { return VecAvx2::exp2(x); }
}  // namespace avx2
}  // namespace sa
