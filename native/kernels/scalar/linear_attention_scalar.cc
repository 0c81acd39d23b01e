// Linear attention inner loops, the plain reference: the feature map and a triple-loop product.
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

void gemmScalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                int64_t ldc, bool accumulate) {
  for (int64_t m = 0; m < M; ++m) {
    float* c = C + m * ldc;
    if (!accumulate) {
      SA_SCALAR_LOOP
      for (int64_t n = 0; n < N; ++n) c[n] = 0.0f;
    }
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[m * lda + k];
      const float* b = B + k * ldb;
      SA_SCALAR_LOOP
      for (int64_t n = 0; n < N; ++n) c[n] += a * b[n];
    }
  }
}

}  // namespace

const LinearAttentionKernels* linearAttentionKernelsScalar() {
  static const LinearAttentionKernels k{featureMapScalar, gemmScalar};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
