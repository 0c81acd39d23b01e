// FP32 FMA peak probe for NEON: kernels/common/fma_peak-inl.h over VecNeon with 16 chains
// (4 FMA pipes x 4 cycles on big cores).
#include <cmath>
#include <cstdint>

#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/vec_neon.h"
#include "kernels/common/fma_peak-inl.h"

namespace sa {
double fmaPeakLoopNeon(int64_t iterations) { return fmaPeakLoopOf<VecNeon, 16>(iterations); }
}  // namespace sa
#else
namespace sa {
double fmaPeakLoopNeon(int64_t) { return 0; }
}  // namespace sa
#endif
