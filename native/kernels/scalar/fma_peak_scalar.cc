// Scalar FMA probe: 8 independent chains of std::fma, kept scalar (the reference path).
#include <cmath>
#include <cstdint>

#include "kernels/common/target.h"

SA_SCALAR_BEGIN
namespace sa {
double fmaPeakLoopScalar(int64_t iterations) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * static_cast<float>(i);
  for (int64_t it = 0; it < iterations; ++it) {
    SA_SCALAR_LOOP
    for (int i = 0; i < 8; ++i) acc[i] = acc[i] * 0.9999f + 1e-7f;
  }
  float s = 0;
  for (int i = 0; i < 8; ++i) s += acc[i];
  volatile float sink = s;
  (void)sink;
  return static_cast<double>(iterations) * 8 * 2;
}
}  // namespace sa
SA_SCALAR_END
