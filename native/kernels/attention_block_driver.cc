// The self-attention block step (attention_block.h), composed from the matmul and attention
// drivers: one call, so the stages follow each other without returning to JavaScript.
#include <algorithm>
#include <cstring>
#include <vector>

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

// A weight W [N, K] (y = x W^T): its rows with row stride ld, and its panels when prepacked; or
// its bfloat16 rows (w16).
struct Weight {
  const float* w;
  int64_t ld;
  const PackedPanels& packed;
  const uint16_t* w16;
};

// Columns [j0, j0 + n) of y[rows, N] (row stride ldy) = a[rows, K] W^T + bias. The one place this
// op builds a MatmulProblem: the prepacked panels when there are some (j0 a multiple of their width).
void linearColumns(const KernelTable& kernels, int64_t rows, int64_t j0, int64_t n, int64_t K, const float* a,
                   int64_t lda, const Weight& w, const float* bias, float* y, int64_t ldy) {
  MatmulProblem p;
  p.M = rows, p.N = n, p.K = K;
  p.A = a, p.lda = lda;
  p.B = w.w + j0 * w.ld, p.ldb = w.ld, p.transB = true;
  if (w.packed.data != nullptr) p.packedB = PackedPanels{w.packed.data + j0 * K, n, K, w.packed.nr};
  p.C = y + j0, p.ldc = ldy;
  p.bias = bias != nullptr ? bias + j0 : nullptr;
  matmul(kernels, p, MatmulBatch{});
}

// y[rows, N] = a W^T + bias, columns split over the pool for a few rows (see kMinColumnTaskWork).
void linear(const KernelTable& kernels, int64_t rows, int64_t N, int64_t K, const float* a, int64_t lda,
            const Weight& w, const float* bias, float* y) {
  if (w.w16 != nullptr) {
    // linearBf16Weight splits its own work over the pool.
    MatmulProblem p;
    p.M = rows, p.N = N, p.K = K;
    p.A = a, p.lda = lda;
    p.bBf16 = w.w16, p.ldb = w.ld, p.transB = true;
    p.C = y, p.ldc = N;
    p.bias = bias;
    linearBf16Weight(kernels, p, MatmulBatch{});
    return;
  }
  ThreadPool& pool = ThreadPool::instance();
  const double work = static_cast<double>(rows) * N * K;
  const int64_t tasks =
      rows > kMaxSplitRows
          ? 1
          : std::min<int64_t>({4 * int64_t{pool.numThreads()}, N, static_cast<int64_t>(work / kMinColumnTaskWork)});
  if (tasks <= 1 || pool.numThreads() == 1) {
    linearColumns(kernels, rows, 0, N, K, a, lda, w, bias, y, N);
    return;
  }
  // Split points on whole register tiles, and on whole panels of a packed weight (NEON's are 12 wide).
  const int64_t nr = w.packed.data != nullptr ? w.packed.nr : 1;
  const int64_t align = (kColumnAlign + nr - 1) / nr * nr;
  const auto split = [&](int64_t t) { return t == tasks ? N : N * t / tasks / align * align; };
  pool.parallelFor(tasks, [&](int64_t t, int) {
    const int64_t j0 = split(t), j1 = split(t + 1);
    if (j1 <= j0) return;
    linearColumns(kernels, rows, j0, j1 - j0, K, a, lda, w, bias, y, N);
  });
}

}  // namespace

void attentionBlockStep(const KernelTable& kernels, const AttentionBlockStep& s) {
  const int64_t B = s.batch, Lq = s.Lq, d = s.headDim;
  const int64_t E = s.heads * d, Ekv = s.kvHeads * d, W = E + 2 * Ekv;
  if (B == 0 || Lq == 0 || E == 0) return;

  // 1. The packed projection: all B x Lq rows in one product when x's rows are evenly spaced.
  const Weight in{s.inWeight, s.inWeightLd, s.inPacked, s.inWeight16};
  if (B == 1 || s.xStrideB == Lq * s.xStrideL) {
    linear(kernels, B * Lq, W, E, s.x, s.xStrideL, in, s.inBias, s.qkv);
  } else {
    for (int64_t b = 0; b < B; ++b)
      linear(kernels, Lq, W, E, s.x + b * s.xStrideB, s.xStrideL, in, s.inBias, s.qkv + b * Lq * W);
  }

  // 2. The new keys and values into the cache: one contiguous Ekv run per (batch, position).
  const auto rowOf = [&](int64_t b) -> int64_t { return s.keyRows != nullptr ? s.keyRows[b] : b; };
  const auto lengthOf = [&](int64_t b) -> int64_t { return s.rowLengths != nullptr ? s.rowLengths[b] : s.cacheLength; };
  // The element offset of position pos of batch item b's row in the storage.
  const auto slotOf = [&](int64_t b, int64_t pos) -> int64_t {
    if (s.blockSize == 0) return (rowOf(b) * s.capacity + pos) * Ekv;
    const int64_t block = s.blockTables[rowOf(b) * s.blockTableWidth + pos / s.blockSize];
    return (block * s.blockSize + pos % s.blockSize) * Ekv;
  };
  const ConvertKernels* round = s.kvType == ElementType::Float32 ? nullptr : convertKernelsFor(kernels.isa);
  const auto narrow = round == nullptr                    ? nullptr
                      : s.kvType == ElementType::BFloat16 ? round->floatToBf16
                                                          : round->floatToHalf;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i) {
      const float* row = s.qkv + (b * Lq + i) * W;
      const int64_t at = slotOf(b, lengthOf(b) + i);
      if (narrow != nullptr) {
        narrow(row + E, s.keyCache16 + at, Ekv);
        narrow(row + E + Ekv, s.valueCache16 + at, Ekv);
      } else {
        std::memcpy(s.keyCache + at, row + E, sizeof(float) * Ekv);
        std::memcpy(s.valueCache + at, row + E + Ekv, sizeof(float) * Ekv);
      }
    }

  // 3. Attention of Q (a BLHD view of qkv) over the cached keys and values, bottom-right causal.
  AttentionProblem a;
  a.batch = B, a.heads = s.heads, a.kvHeads = s.kvHeads;
  a.Lq = Lq, a.Lk = s.cacheLength + Lq, a.dk = d, a.dv = d;
  a.q = s.qkv, a.qStrideB = Lq * W, a.qStrideH = d, a.qStrideL = W;
  a.k = s.keyCache, a.kStrideB = s.capacity * Ekv, a.kStrideH = d, a.kStrideL = Ekv;
  a.v = s.valueCache, a.vStrideB = s.capacity * Ekv, a.vStrideH = d, a.vStrideL = Ekv;
  a.kvType = s.kvType;
  a.k16 = s.keyCache16, a.v16 = s.valueCache16;
  a.out = s.attn, a.oStrideB = Lq * E, a.oStrideH = d, a.oStrideL = E;
  a.scale = s.scale;
  a.causal = true;
  a.bottomRightAligned = true;
  std::vector<int32_t> keyLengths;
  if (s.rowLengths != nullptr) {
    keyLengths.resize(B);
    int64_t longest = 0;
    for (int64_t b = 0; b < B; ++b) {
      keyLengths[b] = static_cast<int32_t>(s.rowLengths[b] + Lq);
      longest = std::max<int64_t>(longest, keyLengths[b]);
    }
    a.Lk = longest;
    a.keyLengths = keyLengths.data();
    a.alignToKeyLengths = true;
  }
  a.keyRows = s.keyRows;
  if (s.blockSize > 0) {
    a.kStrideB = a.vStrideB = s.blockSize * Ekv;
    a.kvBlockSize = s.blockSize;
    a.blockTables = s.blockTables;
    a.blockTableWidth = s.blockTableWidth;
  }
  attention(kernels, a);

  // 4. The output projection.
  linear(kernels, B * Lq, E, E, s.attn, E, Weight{s.outWeight, s.outWeightLd, s.outPacked, s.outWeight16}, s.outBias,
         s.out);
}

}  // namespace sa
