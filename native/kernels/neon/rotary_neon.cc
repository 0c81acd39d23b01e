// Rotary embedding of one row for NEON: kernels/common/rotary-inl.h over VecNeon.
#include <cmath>
#include <cstdint>

#include "kernels/rotary_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/vec_neon.h"
#include "kernels/common/rotary-inl.h"

namespace sa {
const RotaryKernels* rotaryKernelsNeon() { return rotaryKernelsOf<VecNeon>(); }
}  // namespace sa
#else
namespace sa {
const RotaryKernels* rotaryKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
