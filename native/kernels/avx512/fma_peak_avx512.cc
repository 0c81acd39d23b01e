// FP32 FMA peak probe: 12 independent accumulator chains hide the 4-cycle FMA latency on two FMA
// pipes (2 pipes x 4 cycles = 8 chains needed; 12 leaves margin for Zen/Intel differences).
#include <cstdint>

#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
namespace sa {
double fmaPeakLoopAvx512(int64_t iterations) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iterations) * 12 * 16 * 2;
}
}  // namespace sa
SA_TARGET_END
#else
namespace sa {
double fmaPeakLoopAvx512(int64_t) { return 0; }
}  // namespace sa
#endif
