// FP32 FMA peak probe for AVX-512: kernels/common/fma_peak-inl.h over VecAvx512 with 12 chains
// (two FMA pipes x latency 4 = 8 needed; 12 leave margin for Zen / Intel differences).
#include <cmath>
#include <cstdint>

#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/vec_avx512.h"
#include "kernels/common/fma_peak-inl.h"

namespace sa {
double fmaPeakLoopAvx512(int64_t iterations) { return fmaPeakLoopOf<VecAvx512, 12>(iterations); }
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
double fmaPeakLoopAvx512(int64_t) { return 0; }
}  // namespace sa
#endif
