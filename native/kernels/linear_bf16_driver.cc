// A linear layer whose weight is kept in bfloat16 (kernels/matmul.h, linearBf16Weight): the
// decoding GEMV, the bf16 GEMM, or the float32 kernels over the weight widened block by block.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/contract.h"
#include "kernels/matmul.h"
#include "kernels/matmul_tasks.h"
#include "kernels/vector_ops.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

namespace sa {
namespace {

using matmul_tasks::ceilDiv;
using matmul_tasks::runTasks;
using matmul_tasks::splitPoint;

// Rows of x up to which W is streamed once by the GEMV (a decode step's tokens).
constexpr int64_t kGemvMaxRows = 4;
// W rows handled together: every row of x reads them while they are in L1.
constexpr int64_t kGemvRowBlock = 16;
// Weight elements per GEMV task, and W rows widened per block of the float32 fallback.
constexpr int64_t kGemvTaskElements = 64 * 1024;
constexpr int64_t kWidenBlockRows = 256;

void gemv(const KernelTable& kernels, const MatmulProblem& p, const float* A, const uint16_t* W, float* C) {
  const VectorOps& ops = *kernels.vectorOps;
  const int threads = ThreadPool::instance().numThreads();
  const int64_t blocks = ceilDiv(p.N, kGemvRowBlock);
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(blocks, p.N * p.K / kGemvTaskElements));
  const int64_t taskCount = tasks >= threads ? tasks / threads * threads : tasks;
  // Each row of A split into its even and odd elements, once (the kernel's layout, vector_ops.h).
  const int64_t half = (p.K + 1) / 2;
  const size_t splitFloats = static_cast<size_t>(2 * half * p.M);
  float* split = threadScratch(ScratchSlot::LinearBf16, splitFloats);
  std::fill_n(split, splitFloats, 0.0f);  // an odd K leaves the last odd element 0
  for (int64_t m = 0; m < p.M; ++m) {
    float* even = split + 2 * m * half;
    for (int64_t k = 0; k < p.K; ++k) even[(k & 1) * half + (k >> 1)] = A[m * p.lda + k];
  }
  runTasks(taskCount, [&](int64_t t, int) {
    if (ThreadPool::cancelRequested()) return;
    const int64_t b1 = splitPoint(blocks, taskCount, t + 1);
    for (int64_t b = splitPoint(blocks, taskCount, t); b < b1; ++b) {
      const int64_t j = b * kGemvRowBlock, rows = std::min(kGemvRowBlock, p.N - j);
      for (int64_t m = 0; m < p.M; ++m) {
        float* c = C + m * p.ldc + j;
        const float* even = split + 2 * m * half;
        ops.dotRowsBf16(even, even + half, W + j * p.ldb, p.ldb, rows, p.K, c);
        if (p.bias != nullptr) {
          for (int64_t r = 0; r < rows; ++r) c[r] += p.bias[j + r];
        }
      }
    }
  });
}

// Rows [j0, j0 + rows) of W as float32, rows K apart.
void widenRows(const uint16_t* W, int64_t ldw, int64_t j0, int64_t rows, int64_t K, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* src = W + (j0 + r) * ldw;
    float* dst = out + r * K;
    for (int64_t k = 0; k < K; ++k) {
      const uint32_t bits = static_cast<uint32_t>(src[k]) << 16;
      std::memcpy(dst + k, &bits, sizeof bits);
    }
  }
}

void widenedProduct(const KernelTable& kernels, const MatmulProblem& p, const float* A, const uint16_t* W, float* C) {
  const int64_t blockRows = std::min(kWidenBlockRows, p.N);
  // Its own slot: the float32 matmul below packs into this thread's matmul slots.
  float* block = threadScratch(ScratchSlot::LinearBf16, static_cast<size_t>(blockRows * p.K));
  for (int64_t j = 0; j < p.N; j += blockRows) {
    if (ThreadPool::cancelRequested()) return;
    const int64_t rows = std::min(blockRows, p.N - j);
    widenRows(W, p.ldb, j, rows, p.K, block);
    MatmulProblem q;
    q.M = p.M, q.N = rows, q.K = p.K;
    q.A = A, q.lda = p.lda, q.transA = p.transA;
    q.B = block, q.ldb = p.K, q.transB = true;
    q.C = C + j, q.ldc = p.ldc;
    q.bias = p.bias != nullptr ? p.bias + j : nullptr;
    matmul(kernels, q, MatmulBatch{});
  }
}

}  // namespace

bool linearBf16UsesGemv(const MatmulProblem& p) { return p.M <= kGemvMaxRows && !p.transA; }

void linearBf16Weight(const KernelTable& kernels, const MatmulProblem& prob, const MatmulBatch& batch) {
  SA_ASSERT(prob.bBf16 != nullptr && prob.transB && prob.aBf16 == nullptr && prob.packedB.data == nullptr,
            "bf16-weight linear preconditions");
  if (prob.M == 0 || prob.N == 0) return;
  for (int64_t i = 0; i < batch.count; ++i) {
    const float* A = prob.A + (batch.offsetA != nullptr ? batch.offsetA[i] : 0);
    const uint16_t* W = prob.bBf16 + (batch.offsetB != nullptr ? batch.offsetB[i] : 0);
    float* C = prob.C + (batch.offsetC != nullptr ? batch.offsetC[i] : 0);
    if (prob.K == 0) {
      for (int64_t m = 0; m < prob.M; ++m) {
        for (int64_t j = 0; j < prob.N; ++j) C[m * prob.ldc + j] = prob.bias != nullptr ? prob.bias[j] : 0.0f;
      }
    } else if (linearBf16UsesGemv(prob)) {
      gemv(kernels, prob, A, W, C);
    } else if (kernels.matmulBf16 != nullptr) {
      MatmulProblem q = prob;
      q.A = A, q.bBf16 = W, q.B = nullptr, q.C = C;
      matmulBf16(kernels, q, MatmulBatch{});
    } else {
      widenedProduct(kernels, prob, A, W, C);
    }
  }
}

}  // namespace sa
