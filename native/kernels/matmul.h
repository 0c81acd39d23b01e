// C = op(A) op(B) for float32, batched. The ISA-neutral entry point; the blocking, packing and
// threading live in matmul_driver.cc, the register-tile micro-kernels in kernels/<isa>/.
#pragma once
#include <cstdint>

#include "runtime/dispatch.h"

namespace sa {

// One product. op(A) is M x K, op(B) is K x N, C is M x N; all row-major with row strides
// (in elements) lda, ldb, ldc, so a view into a larger buffer needs no copy.
//   transA == false: A[m * lda + k];  transA == true: A[k * lda + m]
//   transB == false: B[k * ldb + n];  transB == true: B[n * ldb + k]
// C is written, never read (beta = 0). bias: nullptr, or N floats added to every row of C (the
// kernels' epilogue; with K = 0, C is the bias).
struct MatmulProblem {
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  int64_t lda = 0;
  bool transA = false;
  const float* B = nullptr;
  int64_t ldb = 0;
  bool transB = false;
  float* C = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;
};

// `count` products; item i uses A + offsetA[i], B + offsetB[i], C + offsetC[i] (element offsets;
// broadcasting repeats an offset). All three arrays may be nullptr when count == 1.
struct MatmulBatch {
  int64_t count = 1;
  const int64_t* offsetA = nullptr;
  const int64_t* offsetB = nullptr;
  const int64_t* offsetC = nullptr;
};

// Runs on ThreadPool::instance(). The caller has checked that every index is in bounds.
void matmul(const KernelTable& kernels, const MatmulProblem& problem, const MatmulBatch& batch);

// C[M x N] = (accumulate ? C : 0) + A[M x K] B[K x N], every operand row-major with contiguous rows
// (A[m * lda + k], B[k * ldb + n], C[m * ldc + n]), on the calling thread: the micro-kernel reads A
// and B in place, nothing is packed or allocated. For the small products inside another kernel's
// pool task (linear attention's chunks), where B's panel stays in L1/L2 across A's rows.
void matmulInPlace(const MatmulKernels& kernels, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

}  // namespace sa
