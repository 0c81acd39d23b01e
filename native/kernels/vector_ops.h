// Per-ISA loops over one contiguous row of floats, shared by the ISA-neutral drivers of the soft
// alignment (softmax rows), the channel and spatial attention of feature maps (pooling, gating,
// the spatial convolution) and linear attention (normaliser dot products). The ISA files are
// kernels/<isa>/vector_ops_<isa>.cc; n may be 0 everywhere; in/out pointers may be equal.
#pragma once
#include <cstdint>

namespace sa {

struct VectorOps {
  float (*max)(const float* x, int64_t n);  // -inf for n = 0; NaN lanes are skipped
  float (*sum)(const float* x, int64_t n);
  float (*dot)(const float* a, const float* b, int64_t n);
  // out[j] = dot(a, b + j * ldb, n) for j in [0, rows): one vector a against rows of b (x W^T for
  // one token). SIMD versions take several rows at once, one FMA chain each, so the rows stream
  // at the cache's bandwidth instead of one chain's FMA latency.
  void (*dotRows)(const float* a, const float* b, int64_t ldb, int64_t rows, int64_t n, float* out);
  // dotRows over rows of bfloat16 bits (a weight kept in bfloat16), widened in registers. a comes
  // split: aEven[i] = a[2i], aOdd[i] = a[2i + 1], each ceil(n / 2) long (aOdd's last is 0 for odd n).
  void (*dotRowsBf16)(const float* aEven, const float* aOdd, const uint16_t* b, int64_t ldb, int64_t rows, int64_t n,
                      float* out);
  // x[i] = exp(x[i] - shift) in place; returns the sum of the new values. x[i] = -inf gives 0.
  float (*expShift)(float* x, int64_t n, float shift);
  void (*scale)(const float* x, float s, float* y, int64_t n);        // y = s x
  void (*axpy)(float a, const float* x, float* y, int64_t n);         // y += a x
  void (*mul)(const float* x, const float* g, float* y, int64_t n);   // y = x g (elementwise)
  void (*addMax)(const float* x, float* sum, float* max, int64_t n);  // sum += x, max = max(max, x)
  void (*sigmoid)(const float* x, float* y, int64_t n);               // y = 1 / (1 + exp(-x))
  void (*relu)(const float* x, float* y, int64_t n);                  // y = max(x, 0)
};

}  // namespace sa
