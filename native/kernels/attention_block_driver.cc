// The self-attention block step (attention_block.h), composed from the matmul and attention
// drivers: one call, so the stages follow each other without returning to JavaScript.
#include <algorithm>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/attention_block.h"
#include "kernels/matmul.h"
#include "runtime/thread_pool.h"

namespace sa {

namespace {

// A decode step's rows are few: a projection then streams its weight once, row by row of W
// (the matmul driver's row-dot path). Below the driver's own threshold for waking the pool it
// runs on one thread; here the pool is already awake from the stage before, so the columns are
// split over it from this many multiply-adds per task on.
constexpr int64_t kMaxSplitRows = 4;
constexpr double kMinColumnTaskWork = 64.0 * 64 * 64;
constexpr int64_t kColumnAlign = 32;

// y[rows, N] (row stride ldy) = a[rows, K] W^T + bias, W [N, K] with row stride ldw. The one place
// this op builds a MatmulProblem, so a prepacked weight is a change here only.
void linearColumns(const KernelTable& kernels, int64_t rows, int64_t N, int64_t K, const float* a, int64_t lda,
                   const float* w, int64_t ldw, const float* bias, float* y, int64_t ldy) {
  MatmulProblem p;
  p.M = rows, p.N = N, p.K = K;
  p.A = a, p.lda = lda;
  p.B = w, p.ldb = ldw, p.transB = true;
  p.C = y, p.ldc = ldy;
  p.bias = bias;
  matmul(kernels, p, MatmulBatch{});
}

// y[rows, N] = a W^T + bias, columns split over the pool for a few rows (see kMinColumnTaskWork).
void linear(const KernelTable& kernels, int64_t rows, int64_t N, int64_t K, const float* a, int64_t lda, const float* w,
            int64_t ldw, const float* bias, float* y) {
  ThreadPool& pool = ThreadPool::instance();
  const double work = static_cast<double>(rows) * N * K;
  const int64_t tasks =
      rows > kMaxSplitRows
          ? 1
          : std::min<int64_t>({4 * int64_t{pool.numThreads()}, N, static_cast<int64_t>(work / kMinColumnTaskWork)});
  if (tasks <= 1 || pool.numThreads() == 1) {
    linearColumns(kernels, rows, N, K, a, lda, w, ldw, bias, y, N);
    return;
  }
  // Split points on multiples of kColumnAlign columns: whole register tiles (and packed panels).
  const auto split = [&](int64_t t) { return t == tasks ? N : N * t / tasks / kColumnAlign * kColumnAlign; };
  pool.parallelFor(tasks, [&](int64_t t, int) {
    const int64_t j0 = split(t), j1 = split(t + 1);
    if (j1 <= j0) return;
    linearColumns(kernels, rows, j1 - j0, K, a, lda, w + j0 * ldw, ldw, bias != nullptr ? bias + j0 : nullptr, y + j0,
                  N);
  });
}

}  // namespace

void attentionBlockStep(const KernelTable& kernels, const AttentionBlockStep& s) {
  const int64_t B = s.batch, Lq = s.Lq, d = s.headDim;
  const int64_t E = s.heads * d, Ekv = s.kvHeads * d, W = E + 2 * Ekv;
  if (B == 0 || Lq == 0 || E == 0) return;

  // 1. The packed projection: all B x Lq rows in one product when x's rows are evenly spaced.
  if (B == 1 || s.xStrideB == Lq * s.xStrideL) {
    linear(kernels, B * Lq, W, E, s.x, s.xStrideL, s.inWeight, s.inWeightLd, s.inBias, s.qkv);
  } else {
    for (int64_t b = 0; b < B; ++b) {
      linear(kernels, Lq, W, E, s.x + b * s.xStrideB, s.xStrideL, s.inWeight, s.inWeightLd, s.inBias,
             s.qkv + b * Lq * W);
    }
  }

  // 2. The new keys and values into the cache: one contiguous Ekv run per (batch, position).
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i) {
      const float* row = s.qkv + (b * Lq + i) * W;
      const int64_t at = (b * s.capacity + s.cacheLength + i) * Ekv;
      std::memcpy(s.keyCache + at, row + E, sizeof(float) * Ekv);
      std::memcpy(s.valueCache + at, row + E + Ekv, sizeof(float) * Ekv);
    }

  // 3. Attention of Q (a BLHD view of qkv) over the cached keys and values, bottom-right causal.
  AttentionProblem a;
  a.batch = B, a.heads = s.heads, a.kvHeads = s.kvHeads;
  a.Lq = Lq, a.Lk = s.cacheLength + Lq, a.dk = d, a.dv = d;
  a.q = s.qkv, a.qStrideB = Lq * W, a.qStrideH = d, a.qStrideL = W;
  a.k = s.keyCache, a.kStrideB = s.capacity * Ekv, a.kStrideH = d, a.kStrideL = Ekv;
  a.v = s.valueCache, a.vStrideB = s.capacity * Ekv, a.vStrideH = d, a.vStrideL = Ekv;
  a.out = s.attn, a.oStrideB = Lq * E, a.oStrideH = d, a.oStrideL = E;
  a.scale = s.scale;
  a.causal = true;
  a.bottomRightAligned = true;
  attention(kernels, a);

  // 4. The output projection.
  linear(kernels, B * Lq, E, E, s.attn, E, s.outWeight, s.outWeightLd, s.outBias, s.out);
}

}  // namespace sa
