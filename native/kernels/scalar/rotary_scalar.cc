// Rotary embedding of one row, the plain reference.
#include <cstdint>

#include "kernels/common/target.h"
#include "kernels/rotary_kernels.h"

SA_SCALAR_BEGIN
namespace sa {
namespace {

void rotateHalfScalar(const float* x, float* y, const float* cos, const float* sin, int64_t half) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    y[i] = a * cos[i] - b * sin[i];
    y[i + half] = b * cos[i] + a * sin[i];
  }
}

void rotatePairsScalar(const float* x, float* y, const float* cosDup, const float* sinAlt, int64_t d) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i + 1 < d; i += 2) {
    const float a = x[i], b = x[i + 1];
    y[i] = a * cosDup[i] + b * sinAlt[i];
    y[i + 1] = b * cosDup[i + 1] + a * sinAlt[i + 1];
  }
}

}  // namespace

const RotaryKernels* rotaryKernelsScalar() {
  static const RotaryKernels k{rotateHalfScalar, rotatePairsScalar};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
