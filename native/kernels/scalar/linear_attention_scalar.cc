// Linear attention's feature map, the plain reference. The products run on the matmul reference
// (matmulInPlace over matmul_scalar.cc).
#include <cmath>
#include <cstdint>

#include "kernels/common/target.h"
#include "kernels/linear_attention_kernels.h"

SA_SCALAR_BEGIN
namespace sa {
namespace {

void featureMapScalar(const float* x, float* y, int64_t n, FeatureMap map) {
  if (map == FeatureMap::Relu) {
    SA_SCALAR_LOOP
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return;
  }
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] + 1.0f : std::exp(x[i]);
}

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsScalar() {
  static const LinearAttentionKernels k{featureMapScalar};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
