// The per-ISA part of linear attention (kernels/linear_attention.h): the feature map and the small
// dense products the chunked driver is made of. The ISA files are kernels/<isa>/linear_attention_<isa>.cc.
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
  // C[M, N] = (accumulate ? C : 0) + A[M, K] B[K, N], row-major: A[m * lda + k], B[k * ldb + n],
  // C[m * ldc + n]. Every operand's rows are contiguous; only the elements named are read or written.
  // Sized for the driver's chunks (M, N, K up to a few hundred): B's rows are streamed once per block
  // of A's rows, so a [K, N] panel of B should sit in L1/L2.
  void (*gemm)(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
               int64_t ldc, bool accumulate);
};

}  // namespace sa
