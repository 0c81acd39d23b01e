// Vector 2^x for AVX-512 (16 lanes): VecAvx512::exp2 (kernels/common/vec_avx512.h) under the name the
// kernels not written over the traits call. Include inside SA_TARGET_AVX512_BEGIN / SA_TARGET_END.
#pragma once
#include "kernels/common/vec_avx512.h"

namespace sa {
namespace avx512 {
inline __m512 exp2(__m512 x) { return VecAvx512::exp2(x); }
}  // namespace avx512
}  // namespace sa
