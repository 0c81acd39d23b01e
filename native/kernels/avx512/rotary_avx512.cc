// Rotary embedding of one row for AVX-512: kernels/common/rotary-inl.h over VecAvx512.
#include <cmath>
#include <cstdint>

#include "kernels/rotary_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/vec_avx512.h"
#include "kernels/common/rotary-inl.h"

namespace sa {
const RotaryKernels* rotaryKernelsAvx512() { return rotaryKernelsOf<VecAvx512>(); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const RotaryKernels* rotaryKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
