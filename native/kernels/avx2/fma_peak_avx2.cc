// FP32 FMA peak probe for AVX2 + FMA: kernels/common/fma_peak-inl.h over VecAvx2 with 12 chains
// (two FMA pipes x latency 4 = 8 needed; 12 leave margin for Zen / Intel differences).
#include <cmath>
#include <cstdint>

#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/vec_avx2.h"
#include "kernels/common/fma_peak-inl.h"

namespace sa {
double fmaPeakLoopAvx2(int64_t iterations) { return fmaPeakLoopOf<VecAvx2, 12>(iterations); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
double fmaPeakLoopAvx2(int64_t) { return 0; }
}  // namespace sa
#endif
