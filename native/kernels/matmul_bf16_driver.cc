// The ISA-neutral half of the bfloat16 GEMM (float32 matmul precision 'medium'): the loop nest of
// matmul_driver.cc, with the operands packed, since packing is where float32 becomes bfloat16
// pairs (kernels/matmul_bf16_kernels.h); only a bfloat16 A may be read in place (see aInPlace).
//   jc  over N in NC columns   pack op(B)[k block, jc:jc+NC] into NR-column pair panels  (shared)
//   pc  over K in KC pairs     one pool dispatch per block of depth
//   ic  over M in row chunks   one task per (row chunk, column group); A block packed (L2)
//                              or read in place
//   jr  over NR panels, ir over MR row tiles: the micro-kernel
// K is cut at pair boundaries, so only the last block can end on half a pair.
// A 16-bit C (cHalf) is summed in a float32 scratch C and rounded by each task as soon as its row
// block has its last depth block, while those rows are still in L2.
// The float16 GEMM (matmulF16) runs on the same loop nest with its own packers and tile.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "kernels/contract.h"
#include "kernels/matmul.h"
#include "kernels/matmul_tasks.h"
#include "kernels/matmul_bf16_kernels.h"
#include "kernels/matmul_f16_kernels.h"
#include "runtime/aligned_memory.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

namespace sa {
namespace {

using matmul_tasks::ceilDiv;
using matmul_tasks::roundUp;
using matmul_tasks::runTasks;
using matmul_tasks::splitPoint;

// A B micro-panel of 512 pairs x 32 columns is 64 KiB (L2); the A block takes half of a 1 MiB L2;
// the B block a share of L3. Work thresholds as in matmul_driver.cc.
constexpr int64_t kMaxKcPairs = 512;
constexpr int64_t kA_BlockBytes = 512 * 1024;
constexpr int64_t kB_BlockBytes = 8 * 1024 * 1024;
constexpr double kDirectMaxWork = 88.0 * 88 * 88;
constexpr double kMinTaskWork = 64.0 * 64 * 64;
constexpr int64_t kTasksPerThread = 2;
constexpr int64_t kMinParallelPackPairs = 64 * 1024;
// The float32 sums of a 16-bit C up to 4M floats (16 MiB; the scratch may grow to 1.5x that) stay in
// thread scratch for the next call; a larger product's take a buffer of their own, freed when done.
constexpr size_t kRetainedHalfSums = 4 * 1024 * 1024;

// Pairs are 4 bytes, as floats: the float32 driver's scratch slots serve them.
uint32_t* scratchPairs(ScratchSlot slot, int64_t pairs) {
  return reinterpret_cast<uint32_t*>(threadScratch(slot, static_cast<size_t>(pairs)));
}

// A and B of one item: float32, or bfloat16 when the problem has aBf16 / bBf16 (the other null);
// C float32, or 16-bit when the problem has cHalf (the other null).
struct Item {
  const float* A;
  const float* B;
  const uint16_t* aBf16;
  const uint16_t* bBf16;
  float* C;
  uint16_t* cHalf;
};

Item itemOf(const MatmulProblem& p, const MatmulBatch& batch, int64_t i) {
  const int64_t oa = batch.offsetA != nullptr ? batch.offsetA[i] : 0;
  const int64_t ob = batch.offsetB != nullptr ? batch.offsetB[i] : 0;
  const int64_t oc = batch.offsetC != nullptr ? batch.offsetC[i] : 0;
  return Item{p.aBf16 == nullptr ? p.A + oa : nullptr,     p.bBf16 == nullptr ? p.B + ob : nullptr,
              p.aBf16 != nullptr ? p.aBf16 + oa : nullptr, p.bBf16 != nullptr ? p.bBf16 + ob : nullptr,
              p.cHalf == nullptr ? p.C + oc : nullptr,     p.cHalf != nullptr ? p.cHalf + oc : nullptr};
}

// Packs columns [jc, jc + nc) of op(B), depth [k0, k0 + kc), into `panels` pair panels from panel
// q0 on (panelStride pairs apart).
void packBBlock(const MatmulBf16Kernels& bk, const MatmulProblem& p, const Item& item, int64_t jc, int64_t nc,
                int64_t k0, int64_t kc, int64_t q0, int64_t q1, uint32_t* out, int64_t panelStride) {
  const int nr = bk.nr;
  if (p.packedB.data != nullptr) {
    // Float32 panels of the same width: panel g holds (k, j) at [k * nr + j], rows contiguous.
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t g = jc / nr + q;
      const float* src = p.packedB.data + g * p.K * nr + k0 * nr;
      bk.packB(src, nr, false, kc, std::min<int64_t>(nr, p.N - g * nr), out + q * panelStride, panelStride);
    }
    return;
  }
  const int64_t j0 = jc + q0 * nr, j1 = std::min(jc + q1 * nr, jc + nc);
  const int64_t at = p.transB ? j0 * p.ldb + k0 : k0 * p.ldb + j0;
  if (item.bBf16 != nullptr) {
    bk.packBFromBf16(item.bBf16 + at, p.ldb, p.transB, kc, j1 - j0, out + q0 * panelStride, panelStride);
  } else {
    bk.packB(item.B + at, p.ldb, p.transB, kc, j1 - j0, out + q0 * panelStride, panelStride);
  }
}

// One product on `threads` pool threads (1: on the calling thread).
void product(const MatmulBf16Kernels& bk, const MatmulProblem& p, const Item& item, int threads) {
  const int mr = bk.mr, nr = bk.nr;
  const int64_t pairs = ceilDiv(p.K, 2);
  const int64_t depthBlocks = ceilDiv(pairs, kMaxKcPairs);
  const int64_t kcPairsMax = ceilDiv(pairs, depthBlocks);
  const int64_t mc = std::max<int64_t>(mr, kA_BlockBytes / (kcPairsMax * 4) / mr * mr);
  const int64_t ncMax = std::min(roundUp(p.N, nr), std::max<int64_t>(nr, kB_BlockBytes / (kcPairsMax * 4) / nr * nr));
  const int64_t rowTiles = ceilDiv(p.M, mr);
  // A bfloat16 A without transA already holds its pairs as 32-bit words of its rows: the tile reads it
  // in place, unpacked, when K is even (no half pair past the end of a row) and the words are
  // aligned. Not when the row stride is a multiple of 4 KiB: a tile's rows would then all fall in one
  // L1 set, more of them than its ways.
  const bool aInPlace = bk.tileRowMajorA != nullptr && item.aBf16 != nullptr && !p.transA && p.K % 2 == 0 &&
                        p.lda % 2 == 0 && (p.lda * 2) % 4096 != 0 &&
                        reinterpret_cast<std::uintptr_t>(item.aBf16) % alignof(uint32_t) == 0;
  const auto* aPairs = reinterpret_cast<const uint32_t*>(item.aBf16);
  const int64_t aPairStride = p.lda / 2;
  // Where the tiles sum: C itself, or float32 sums of a 16-bit C (rows N apart).
  std::unique_ptr<float, void (*)(void*)> ownSums(nullptr, alignedFree);
  float* c = item.C;
  int64_t ldc = p.ldc;
  if (item.cHalf != nullptr) {
    const size_t floats = static_cast<size_t>(p.M * p.N);
    if (floats <= kRetainedHalfSums) {
      c = threadScratch(ScratchSlot::MatmulHalfC, floats);
    } else {
      ownSums.reset(static_cast<float*>(alignedAlloc(64, floats * sizeof(float))));
      if (ownSums == nullptr) throw std::bad_alloc();
      c = ownSums.get();
    }
    ldc = p.N;
  }
  for (int64_t jc = 0; jc < p.N; jc += ncMax) {
    const int64_t nc = std::min(ncMax, p.N - jc);
    const int64_t panels = ceilDiv(nc, nr);
    for (int64_t d = 0; d < depthBlocks; ++d) {
      const int64_t pair0 = splitPoint(pairs, depthBlocks, d), pair1 = splitPoint(pairs, depthBlocks, d + 1);
      const int64_t kcPairs = pair1 - pair0, k0 = 2 * pair0, kc = std::min(2 * pair1, p.K) - k0;
      const bool accumulate = d > 0;
      const bool round = item.cHalf != nullptr && d + 1 == depthBlocks;
      const float* bias = d + 1 == depthBlocks && p.bias != nullptr ? p.bias + jc : nullptr;
      const int64_t panelStride = kcPairs * nr;
      uint32_t* packedB = scratchPairs(ScratchSlot::MatmulPackedB, panels * panelStride);
      const int64_t packTasks = kcPairs * nc >= kMinParallelPackPairs ? std::min<int64_t>(threads, panels) : 1;
      runTasks(packTasks, [&](int64_t t, int) {
        packBBlock(bk, p, item, jc, nc, k0, kc, splitPoint(panels, packTasks, t), splitPoint(panels, packTasks, t + 1),
                   packedB, panelStride);
      });

      const double work = static_cast<double>(p.M) * nc * kc;
      int64_t wantTasks = std::min<int64_t>(threads == 1 ? 1 : int64_t{threads} * kTasksPerThread,
                                            static_cast<int64_t>(work / kMinTaskWork));
      wantTasks = wantTasks >= threads ? wantTasks / threads * threads : std::max<int64_t>(1, wantTasks);
      const int64_t rowChunks = std::min(rowTiles, wantTasks);
      const int64_t colGroups = std::min(panels, ceilDiv(wantTasks, rowChunks));
      runTasks(rowChunks * colGroups, [&](int64_t t, int) {
        const int64_t rc = t / colGroups, cg = t % colGroups;
        const int64_t i0 = splitPoint(rowTiles, rowChunks, rc) * mr;
        const int64_t i1 = std::min(splitPoint(rowTiles, rowChunks, rc + 1) * mr, p.M);
        const int64_t panel0 = splitPoint(panels, colGroups, cg), panel1 = splitPoint(panels, colGroups, cg + 1);
        // The rows in equal A blocks of whole row tiles, at most mc rows each.
        const int64_t tiles = ceilDiv(i1 - i0, mr);
        const int64_t blocks = ceilDiv(tiles, mc / mr);
        for (int64_t blockIndex = 0; blockIndex < blocks; ++blockIndex) {
          if (ThreadPool::cancelRequested()) return;
          const int64_t ic = i0 + splitPoint(tiles, blocks, blockIndex) * mr;
          const int64_t mcCur = std::min(i0 + splitPoint(tiles, blocks, blockIndex + 1) * mr, i1) - ic;
          uint32_t* packedA = nullptr;
          if (!aInPlace) {
            packedA = scratchPairs(ScratchSlot::MatmulPackedA, roundUp(mcCur, mr) * kcPairs);
            const int64_t at = p.transA ? k0 * p.lda + ic : ic * p.lda + k0;
            if (item.aBf16 != nullptr) {
              bk.packAFromBf16(item.aBf16 + at, p.lda, p.transA, mcCur, kc, packedA);
            } else {
              bk.packA(item.A + at, p.lda, p.transA, mcCur, kc, packedA);
            }
          }
          for (int64_t panel = panel0; panel < panel1; ++panel) {
            const int64_t j = panel * nr;
            const int n = static_cast<int>(std::min<int64_t>(nr, nc - j));
            const uint32_t* bPanel = packedB + panel * panelStride;
            const float* biasPanel = bias != nullptr ? bias + j : nullptr;
            for (int64_t i = 0; i < mcCur; i += mr) {
              const int m = static_cast<int>(std::min<int64_t>(mr, mcCur - i));
              float* cTile = c + (ic + i) * ldc + jc + j;
              if (aInPlace) {
                bk.tileRowMajorA(kcPairs, aPairs + (ic + i) * aPairStride + pair0, aPairStride, bPanel, cTile, ldc, m,
                                 n, accumulate, biasPanel);
              } else {
                bk.tile(kcPairs, packedA + i * kcPairs, bPanel, cTile, ldc, m, n, accumulate, biasPanel);
              }
            }
          }
          if (round) {
            const int64_t j0 = jc + panel0 * nr, j1 = jc + std::min(panel1 * nr, nc);
            for (int64_t i = ic; i < ic + mcCur; ++i) p.roundC(c + i * ldc + j0, item.cHalf + i * p.ldc + j0, j1 - j0);
          }
        }
      });
    }
  }
}

void run(const MatmulBf16Kernels& bk, const MatmulProblem& prob, const MatmulBatch& batch) {
  const double itemWork = static_cast<double>(prob.M) * prob.N * prob.K;
  if (itemWork * static_cast<double>(batch.count) <= kDirectMaxWork) {
    for (int64_t i = 0; i < batch.count; ++i) product(bk, prob, itemOf(prob, batch, i), 1);
    return;
  }
  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.numThreads();
  const bool spreadItems = batch.count > 1 && (threads == 1 || itemWork <= kDirectMaxWork ||
                                               batch.count % threads == 0 || batch.count >= 4 * threads);
  if (spreadItems) {
    pool.parallelFor(batch.count, [&](int64_t i, int) { product(bk, prob, itemOf(prob, batch, i), 1); });
    return;
  }
  for (int64_t i = 0; i < batch.count; ++i) product(bk, prob, itemOf(prob, batch, i), threads);
}

}  // namespace

void matmulBf16(const KernelTable& kernels, const MatmulProblem& prob, const MatmulBatch& batch) {
  SA_ASSERT(kernels.matmulBf16 != nullptr && prob.M > 0 && prob.N > 0 && prob.K > 0, "bf16 GEMM preconditions");
  SA_ASSERT(prob.packedB.data == nullptr || prob.packedB.nr == kernels.matmulBf16->nr, "packed B of another width");
  SA_ASSERT(prob.packedB.data == nullptr || prob.bBf16 == nullptr, "packed B read as bfloat16");
  SA_ASSERT(prob.cHalf == nullptr || prob.roundC != nullptr, "a 16-bit C needs its rounding");
  run(*kernels.matmulBf16, prob, batch);
}

void matmulF16(const KernelTable& kernels, const MatmulProblem& prob, const MatmulBatch& batch) {
  SA_ASSERT(kernels.matmulF16 != nullptr && prob.M > 0 && prob.N > 0 && prob.K > 0, "f16 GEMM preconditions");
  SA_ASSERT(prob.aF16 != nullptr && prob.bF16 != nullptr && prob.packedB.data == nullptr, "f16 GEMM operands");
  SA_ASSERT(prob.cHalf == nullptr || prob.roundC != nullptr, "a 16-bit C needs its rounding");
  const MatmulF16Kernels& fk = *kernels.matmulF16;
  // The driver reads 16-bit operands through the bf16 fields and packs them with the f16 packers.
  const MatmulBf16Kernels pairKernels{fk.name, fk.mr, fk.nr, fk.tile, nullptr, nullptr, fk.packA, fk.packB};
  MatmulProblem p = prob;
  p.A = nullptr, p.B = nullptr, p.aBf16 = prob.aF16, p.bBf16 = prob.bF16;
  run(pairKernels, p, batch);
}

}  // namespace sa
