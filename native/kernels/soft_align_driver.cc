// Soft alignment weights (kernels/soft_align.h): e^T is copied into weightsBA in cache-sized
// blocks, then every row of both matrices goes through one masked softmax (max, exp and sum,
// scale: the ISA's VectorOps). The column softmax is thus a row softmax of e^T, and nothing but
// the two outputs is ever allocated.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/soft_align.h"
#include "kernels/vector_ops.h"
#include "runtime/thread_pool.h"

namespace sa {

namespace {

// 32 x 32 floats read and 32 x 32 written: 8 KiB, in L1 whatever the row lengths.
constexpr int64_t kTransposeBlock = 32;
// Rows per softmax task.
constexpr int64_t kRowsPerTask = 16;

// Softmax of one row in place: zero if the row's own token is invalid, masked partners at weight 0,
// zeros when no partner is valid. A NaN score makes its row NaN (max skips it, exp does not).
void softmaxRow(const VectorOps& vo, float* x, int64_t n, bool rowValid, const uint8_t* partners,
                int64_t partnerStride) {
  if (rowValid && partners != nullptr) {
    for (int64_t j = 0; j < n; ++j) {
      if (partners[j * partnerStride] == 0) x[j] = -std::numeric_limits<float>::infinity();
    }
  }
  const float m = rowValid ? vo.max(x, n) : -std::numeric_limits<float>::infinity();
  if (m == -std::numeric_limits<float>::infinity()) {
    std::fill(x, x + n, 0.0f);
    return;
  }
  const float sum = vo.expShift(x, n, m);
  vo.scale(x, 1.0f / sum, x, n);
}

}  // namespace

void softAlignWeights(const KernelTable& kernels, const SoftAlignProblem& p) {
  if (p.batch <= 0 || p.La <= 0 || p.Lb <= 0) return;
  const VectorOps& vo = *kernels.vectorOps;
  ThreadPool& pool = ThreadPool::instance();
  const int64_t La = p.La, Lb = p.Lb;

  // 1. weightsBA[b] = e[b]^T, one band of kTransposeBlock rows of e per task.
  const int64_t bands = (La + kTransposeBlock - 1) / kTransposeBlock;
  pool.parallelFor(p.batch * bands, [&](int64_t task, int) {
    const int64_t b = task / bands, i0 = task % bands * kTransposeBlock, i1 = std::min(La, i0 + kTransposeBlock);
    const float* e = p.weightsAB + b * La * Lb;
    float* t = p.weightsBA + b * Lb * La;
    for (int64_t j0 = 0; j0 < Lb; j0 += kTransposeBlock) {
      const int64_t j1 = std::min(Lb, j0 + kTransposeBlock);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) t[j * La + i] = e[i * Lb + j];
    }
  });

  // 2. Softmax of every row: rows [0, batch La) are weightsAB's, the rest weightsBA's.
  const int64_t rowsAB = p.batch * La, rows = rowsAB + p.batch * Lb;
  pool.parallelFor((rows + kRowsPerTask - 1) / kRowsPerTask, [&](int64_t task, int) {
    const int64_t r1 = std::min(rows, (task + 1) * kRowsPerTask);
    for (int64_t r = task * kRowsPerTask; r < r1; ++r) {
      if (r < rowsAB) {
        const int64_t b = r / La, i = r % La;
        const bool valid = p.maskA == nullptr || p.maskA[b * p.maskAStrideB + i * p.maskAStrideL] != 0;
        softmaxRow(vo, p.weightsAB + r * Lb, Lb, valid, p.maskB == nullptr ? nullptr : p.maskB + b * p.maskBStrideB,
                   p.maskBStrideL);
      } else {
        const int64_t b = (r - rowsAB) / Lb, j = (r - rowsAB) % Lb;
        const bool valid = p.maskB == nullptr || p.maskB[b * p.maskBStrideB + j * p.maskBStrideL] != 0;
        softmaxRow(vo, p.weightsBA + (r - rowsAB) * La, La, valid,
                   p.maskA == nullptr ? nullptr : p.maskA + b * p.maskAStrideB, p.maskAStrideL);
      }
    }
  });
}

}  // namespace sa
