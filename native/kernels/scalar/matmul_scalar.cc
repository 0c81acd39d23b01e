// The scalar matmul: the reference every SIMD path is tested against, and the fallback of a CPU
// with no SIMD tier. Plain loops over any transposes and strides, kept from auto-vectorisation so
// they stay an independent check. No micro-kernel (mr = 0): the driver only splits rows over the
// pool and calls matmulUnblockedScalar on each share.
#include <cstdint>

#include "kernels/common/target.h"
#include "kernels/matmul_kernels.h"
#include "runtime/scratch.h"

namespace sa {
namespace {

// One row of sums, from this thread's scratch.
float* sums(int64_t n) { return threadScratch(ScratchSlot::MatmulPackedA, static_cast<size_t>(n)); }

SA_SCALAR_BEGIN
// Each C element is one float32 chain over k in increasing order, as in the SIMD micro-kernels (bar
// FMA's single rounding), so the two agree to a few ulps times K; the earlier C and the bias are
// added after the chain, as the micro-kernels' epilogue adds them.
void matmulUnblockedScalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool transA, const float* B,
                           int64_t ldb, bool transB, float* C, int64_t ldc, bool accumulate, const float* bias) {
  const int64_t aRow = transA ? 1 : lda, aCol = transA ? lda : 1;
  const int64_t bRow = transB ? 1 : ldb, bCol = transB ? ldb : 1;
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    const float* a = A + i * aRow;
    if (transB) {
      // Each C element is a dot product of a row of op(A) and a contiguous row of B.
      SA_SCALAR_LOOP
      for (int64_t j = 0; j < N; ++j) {
        const float* b = B + j * bCol;
        float sum = 0.0f;
        SA_SCALAR_LOOP
        for (int64_t k = 0; k < K; ++k) sum += a[k * aCol] * b[k * bRow];
        if (accumulate) sum += c[j];
        c[j] = bias != nullptr ? sum + bias[j] : sum;
      }
    } else {
      // Row of C += a[i, k] * row k of B: contiguous in j, in the same k order as above. The sums
      // start in `row` (C's row itself when nothing is added after them).
      float* row = accumulate || bias != nullptr ? sums(N) : c;
      SA_SCALAR_LOOP
      for (int64_t j = 0; j < N; ++j) row[j] = 0.0f;
      SA_SCALAR_LOOP
      for (int64_t k = 0; k < K; ++k) {
        const float aik = a[k * aCol];
        const float* b = B + k * bRow;
        SA_SCALAR_LOOP
        for (int64_t j = 0; j < N; ++j) row[j] += aik * b[j];
      }
      if (row == c) continue;
      SA_SCALAR_LOOP
      for (int64_t j = 0; j < N; ++j) {
        const float sum = accumulate ? row[j] + c[j] : row[j];
        c[j] = bias != nullptr ? sum + bias[j] : sum;
      }
    }
  }
}
SA_SCALAR_END

}  // namespace

const MatmulKernels* matmulKernelsScalar() {
  static const MatmulKernels kernels{"scalar", 0, 0, nullptr, nullptr, nullptr, nullptr, &matmulUnblockedScalar,
                                     nullptr};
  return &kernels;
}

}  // namespace sa
