// The per-ISA part of linear attention (kernels/linear_attention.h): the feature map. The ISA files
// are kernels/<isa>/linear_attention_<isa>.cc. The small dense products the chunked driver is made
// of run on the matmul micro-kernel (matmulInPlace, kernels/matmul.h).
#pragma once
#include <cstdint>

namespace sa {

// phi, the feature map applied to queries and keys.
enum class FeatureMap : int {
  EluPlusOne = 0,  // elu(x) + 1: x + 1 for x > 0, exp(x) otherwise (Katharopoulos et al. 2020); > 0
  Relu = 1,        // max(x, 0) (a NaN gives 0)
};

struct LinearAttentionKernels {
  // y[i] = phi(x[i]) for i < n (x == y allowed).
  void (*featureMap)(const float* x, float* y, int64_t n, FeatureMap map);
};

}  // namespace sa
