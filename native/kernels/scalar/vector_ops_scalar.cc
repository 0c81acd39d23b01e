// Row loops (kernels/vector_ops.h), the plain reference.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/common/target.h"
#include "kernels/vector_ops.h"

SA_SCALAR_BEGIN
namespace sa {
namespace {

float maxScalar(const float* x, int64_t n) {
  float m = -INFINITY;
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;  // false for NaN: skipped
  return m;
}

float sumScalar(const float* x, int64_t n) {
  float s = 0.0f;
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) s += x[i];
  return s;
}

float dotScalar(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void dotRowsScalar(const float* a, const float* b, int64_t ldb, int64_t rows, int64_t n, float* out) {
  for (int64_t j = 0; j < rows; ++j) out[j] = dotScalar(a, b + j * ldb, n);
}

void dotRowsBf16Scalar(const float* aEven, const float* aOdd, const uint16_t* b, int64_t ldb, int64_t rows, int64_t n,
                       float* out) {
  for (int64_t j = 0; j < rows; ++j) {
    const uint16_t* row = b + j * ldb;
    float s = 0.0f;
    SA_SCALAR_LOOP
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t bits = static_cast<uint32_t>(row[i]) << 16;
      float w;
      std::memcpy(&w, &bits, sizeof w);
      s += ((i & 1) != 0 ? aOdd[i >> 1] : aEven[i >> 1]) * w;
    }
    out[j] = s;
  }
}

float expShiftScalar(float* x, int64_t n, float shift) {
  float s = 0.0f;
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) s += (x[i] = std::exp(x[i] - shift));
  return s;
}

void scaleScalar(const float* x, float s, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] = s * x[i];
}

void axpyScalar(float a, const float* x, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void mulScalar(const float* x, const float* g, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * g[i];
}

void addMaxScalar(const float* x, float* sum, float* max, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) {
    sum[i] += x[i];
    max[i] = x[i] > max[i] ? x[i] : max[i];
  }
}

void sigmoidScalar(const float* x, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void reluScalar(const float* x, float* y, int64_t n) {
  SA_SCALAR_LOOP
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

}  // namespace

const VectorOps* vectorOpsScalar() {
  static const VectorOps k{maxScalar,   sumScalar,  dotScalar, dotRowsScalar, dotRowsBf16Scalar, expShiftScalar,
                           scaleScalar, axpyScalar, mulScalar, addMaxScalar,  sigmoidScalar,     reluScalar};
  return &k;
}

}  // namespace sa
SA_SCALAR_END
