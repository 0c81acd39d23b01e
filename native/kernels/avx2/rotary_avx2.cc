// Rotary embedding of one row for AVX2 + FMA: kernels/common/rotary-inl.h over VecAvx2.
#include <cmath>
#include <cstdint>

#include "kernels/rotary_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/vec_avx2.h"
#include "kernels/common/rotary-inl.h"

namespace sa {
const RotaryKernels* rotaryKernelsAvx2() { return rotaryKernelsOf<VecAvx2>(); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const RotaryKernels* rotaryKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
