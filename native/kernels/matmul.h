// C = op(A) op(B) for float32, batched. The ISA-neutral entry point; the blocking, packing and
// threading live in matmul_driver.cc, the register-tile micro-kernels in kernels/<isa>/.
#pragma once
#include <cstdint>

#include "runtime/dispatch.h"

namespace sa {

// op(B) of a weight used as y = x W^T, packed once by packMatmulWeights into the panels the
// micro-kernel reads: ceil(N / nr) panels of K x nr floats, panel r at data + r * K * nr holding
// W[r * nr + j, p] at [p * nr + j], columns past N zero. nr is matmulPanelWidth() of the kernels
// that packed it (1 for an ISA without micro-kernels: the panels are then W's rows as they are).
struct PackedPanels {
  const float* data = nullptr;
  int64_t N = 0, K = 0;
  int nr = 0;
};

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
  // When packedB.data is set (N, K and nr matching), B is read from its panels on every path and
  // B, ldb, transB and batch.offsetB are not used: every item shares the one packed weight.
  PackedPanels packedB;
  // Float32 matmul precision 'medium' (lib/matmul-precision.ts): multiply in bfloat16, accumulate in
  // float32, where the table has a bf16 GEMM (matmulBf16). Products of a few rows (decoding GEMVs,
  // bound by memory, not multiplies) stay float32.
  bool bf16Products = false;
  // matmulBf16 only: op(A) and op(B) already in bfloat16 (bit patterns, same strides and offsets as
  // A and B), read instead of A and B; packedB must be unset.
  const uint16_t* aBf16 = nullptr;
  const uint16_t* bBf16 = nullptr;
  // matmulF16 only: op(A) and op(B) in float16 (bit patterns, same strides and offsets as A and B).
  const uint16_t* aF16 = nullptr;
  const uint16_t* bF16 = nullptr;
  // matmulBf16 / matmulF16 only: C is written as 16-bit floats at cHalf (C unused; ldc and
  // batch.offsetC apply), each element rounded by roundC from its float32 sum (bias included).
  uint16_t* cHalf = nullptr;
  void (*roundC)(const float* src, uint16_t* dst, int64_t n) = nullptr;
};

// `count` products; item i uses A + offsetA[i], B + offsetB[i], C + offsetC[i] (element offsets;
// broadcasting repeats an offset). All three arrays may be nullptr when count == 1.
struct MatmulBatch {
  int64_t count = 1;
  const int64_t* offsetA = nullptr;
  const int64_t* offsetB = nullptr;
  const int64_t* offsetC = nullptr;
};

// The panel width packMatmulWeights uses with these kernels, and the floats its output takes.
int matmulPanelWidth(const KernelTable& kernels);
int64_t packedPanelsFloats(const KernelTable& kernels, int64_t N, int64_t K);

// Packs W [N x K] (row p of op(B) is column p of W: element (n, k) at w[n * ldw + k]) into `out`
// (packedPanelsFloats(kernels, N, K) floats), on ThreadPool::instance(). Returns the panels' geometry.
PackedPanels packMatmulWeights(const KernelTable& kernels, const float* w, int64_t ldw, int64_t N, int64_t K,
                               float* out);

// Runs on ThreadPool::instance(). The caller has checked that every index is in bounds.
// With problem.bf16Products, a product that bf16ProductsApply() accepts runs as matmulBf16.
void matmul(const KernelTable& kernels, const MatmulProblem& problem, const MatmulBatch& batch);

// C[M x N] = (accumulate ? C : 0) + A[M x K] B[K x N], every operand row-major with contiguous rows
// (A[m * lda + k], B[k * ldb + n], C[m * ldc + n]), on the calling thread: the micro-kernel reads A
// and B in place, nothing is packed or allocated. For the small products inside another kernel's
// pool task (linear attention's chunks), where B's panel stays in L1/L2 across A's rows.
// Whether matmul() multiplies this problem in bfloat16 (problem.bf16Products set).
bool bf16ProductsApply(const KernelTable& kernels, const MatmulProblem& problem);

// The bfloat16 GEMM (matmul_bf16_driver.cc): op(A) and op(B) rounded to bfloat16 (nearest even)
// as they are packed, products accumulated in float32; a packed B (float32 panels of the table's
// width) is rounded as its blocks are packed; aBf16 and bBf16, when set, are packed as they are.
// Needs kernels.matmulBf16; M, N, K >= 1.
void matmulBf16(const KernelTable& kernels, const MatmulProblem& problem, const MatmulBatch& batch);

// The float16 GEMM (matmul_bf16_driver.cc's loop nest): aF16 and bF16 multiplied in float16,
// products accumulated in float32 (C float32, + bias). Needs kernels.matmulF16 (dispatch sets it
// where the CPU has one); M, N, K >= 1; packedB unset.
void matmulF16(const KernelTable& kernels, const MatmulProblem& problem, const MatmulBatch& batch);

// y = x W^T (+ bias) with W kept in bfloat16 (a linear layer's weight): op(A) float32 (transA
// false), W [N x K] the bfloat16 bits at problem.bBf16 (transB true, rows ldb apart), C float32.
// A few rows stream W once through vectorOps.dotRowsBf16; more rows take the bf16 GEMM where the
// table has one (A rounded to bfloat16 as it is packed), else W widened block by block to matmul().
// linear_bf16_driver.cc; on ThreadPool::instance().
bool linearBf16UsesGemv(const MatmulProblem& problem);
void linearBf16Weight(const KernelTable& kernels, const MatmulProblem& problem, const MatmulBatch& batch);

void matmulInPlace(const MatmulKernels& kernels, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

}  // namespace sa
