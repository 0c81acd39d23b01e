// The ISA-neutral half of the float32 matmul: the GotoBLAS / BLIS loop nest around a register-tile
// micro-kernel (kernels/<isa>/matmul_<isa>.cc), with cache blocking, operand packing, threading,
// and a direct path for small products.
//
// Large products (blockedProduct), loop by loop from the outside:
//   jc  over N in NC columns   pack op(B)[k0:k0+KS, jc:jc+NC] into NR-column panels   (shared, L3)
//   ic  over M in row chunks   one pool task per (row chunk, column group)
//   pc  over K in KC steps     A block: MC rows x KC, packed (transA) or read in place  (L2)
//   jr  over NR panels         B micro-panel KC x NR, reused by every row tile          (L1/L2)
//   ir  over row tiles         micro-kernel: an MR x NR tile of C in registers
// The row chunks sit outside pc (BLIS has ic inside) so that one pool dispatch covers all of K;
// the C chunk a task owns is then updated K / KC times.
//
// A is packed when it is stored transposed (op(A) = A^T, contiguous along M: a cheap row-by-row
// move that saves the micro-kernel from walking A^T one row per k), and when it is row-major with a
// long K (see kMinDepthToPackRowMajorA). Otherwise row-major A is read in place, its rows broadcast
// by the micro-kernel, in tiles of at most kInPlaceMaxRows rows.
//
// Small products (directProduct) run on the calling thread, allocate nothing once warm, and read
// A (and B, unless transposed) in place: packing would cost as much as the product.
//
// A weight packed once (MatmulProblem::packedB) is never packed again: the blocked and direct
// paths read windows of its full-depth panels, and a few rows of A (decoding) go through the ISA's
// panelRows, which streams the same panels as a GEMV.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/contract.h"
#include "kernels/matmul.h"
#include "kernels/matmul_tasks.h"
#include "kernels/matmul_bf16_kernels.h"
#include "kernels/matmul_kernels.h"
#include "kernels/vector_ops.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

namespace sa {
namespace {

using matmul_tasks::ceilDiv;
using matmul_tasks::roundUp;
using matmul_tasks::runTasks;
using matmul_tasks::splitPoint;

// ---- Blocking constants -------------------------------------------------------------------------
// Sizes of the smallest current server cores: Zen 4 has 32 KiB L1d (8-way) and 1 MiB L2 per core;
// Intel since Ice Lake 48 KiB (12-way) and 1.25-2 MiB; both a shared L3 of tens of MiB.
constexpr int64_t kL1Bytes = 32 * 1024;
constexpr int64_t kL1Ways = 8;
constexpr int64_t kL2Bytes = 1024 * 1024;

// KC, the depth of one block, from the B micro-panel (KC x NR floats) it gives: 128 KiB, four L1s.
// A long KC means fewer passes over the C tile (loaded and stored once per KC step); the micro-
// panel then streams from L2 instead of staying in L1, which the L2's bandwidth (32 B/cycle against
// the kernel's ~7) absorbs, so the longest KC that fits wins. kMaxKc caps it for narrow tiles.
constexpr int64_t kB_MicroPanelBytes = 4 * kL1Bytes;
constexpr int64_t kMaxKc = 1024;
// KC never goes below this: each KC step loads and stores the C tile once.
constexpr int64_t kMinKc = 64;
// MC, the rows of one A block (MC x KC floats), from half of L2: the block is re-read once per B
// panel and must stay in L2 while the micro-panels of B and the C tiles stream past it.
constexpr int64_t kA_BlockBytes = kL2Bytes / 2;
// NC, the columns of the packed B block (KS x NC floats), from a share of the L3 all threads read
// it from. Past this size B is packed and consumed NC columns at a time.
constexpr int64_t kB_BlockBytes = 8 * 1024 * 1024;
// A B block that must be cut along K (huge K) still spans at least this many columns, so the A
// block is re-read for at least this many columns.
constexpr int64_t kMinNc = 512;
// A tile reading A in place broadcasts from one cache line per row at each k; with a row stride
// that is a multiple of 4 KiB (any power-of-two width from 1024 floats up) all those lines fall in
// one L1 set, so more rows than the L1 has ways evict each other on every k. 8 rows keep a 1024^2
// x 1024 x 64 product at the FMA peak where 14 rows thrash the set.
constexpr int kInPlaceMaxRows = static_cast<int>(kL1Ways);

// ---- Path selection -----------------------------------------------------------------------------
// Up to this many multiply-adds (M * N * K, all batch items together) the product runs on the
// calling thread: waking a pool thread costs 5-20 us in a VM, a 64^3 product takes 5; the
// crossover between one thread and two lies between 80^3 and 96^3.
constexpr double kDirectMaxWork = 88.0 * 88 * 88;
// A is packed when the packed panels serve at least this many B panels, and, stored row-major, when
// K is at least kMinDepthToPackRowMajorA: packing then buys full-height tiles (14 rows on AVX-512
// against kInPlaceMaxRows read in place) and an A block free of L1/L2 set conflicts; with a short K
// the copy costs what the taller tile saves (even on 1024 x 64 . 64 x 1024).
constexpr int64_t kMinPanelsToPackA = 4;
constexpr int64_t kMinDepthToPackRowMajorA = 512;
// Up to this many rows, op(B) without transB is read in place: each B element serves so few rows
// that packing it would cost more than it saves.
constexpr int64_t kThinAMaxRows = 16;
// The direct path with transB packs all of op(B) into scratch; beyond this it takes the blocked path.
constexpr int64_t kDirectPackedBMaxFloats = 256 * 1024;
// A pool task should be worth at least this many multiply-adds, or dispatch overhead dominates.
constexpr double kMinTaskWork = 64.0 * 64 * 64;
// Tasks per thread in the blocked path. More than one lets the pool's dynamic scheduling even out a
// thread that starts late or runs slowly: on the 2-vCPU VM the scheduler at times leaves the woken
// worker on the caller's CPU for milliseconds (1024^3 on 2 threads then ran at 1-thread speed).
// Two tasks per thread cost little when nothing interferes and halve such a delay.
constexpr int64_t kTasksPerThread = 2;
// Packing B is spread over the pool only from this many floats on; below, a dispatch costs more.
constexpr int64_t kMinParallelPackFloats = 64 * 1024;

// ---- Scratch -------------------------------------------------------------------------------------
// The packed B block of the product this thread drives (read by all pool threads), and the packed
// A block of the task this thread runs: distinct slots, as the thread that packed B also runs tasks.
float* packedBScratch(int64_t floats) { return threadScratch(ScratchSlot::MatmulPackedB, static_cast<size_t>(floats)); }
float* packedAScratch(int64_t floats) { return threadScratch(ScratchSlot::MatmulPackedA, static_cast<size_t>(floats)); }

// One batch item with its pointers resolved.
struct Product {
  int64_t M, N, K;
  const float* A;
  int64_t lda;
  bool transA;
  const float* B;
  int64_t ldb;
  bool transB;
  float* C;
  int64_t ldc;
  const float* bias;
  const float* packed;  // op(B) as prepacked panels of K x nr (PackedPanels), or nullptr
};

Product itemOf(const MatmulProblem& p, const MatmulBatch& batch, int64_t i) {
  return Product{p.M,
                 p.N,
                 p.K,
                 p.A + (batch.offsetA != nullptr ? batch.offsetA[i] : 0),
                 p.lda,
                 p.transA,
                 p.B + (batch.offsetB != nullptr ? batch.offsetB[i] : 0),
                 p.ldb,
                 p.transB,
                 p.C + (batch.offsetC != nullptr ? batch.offsetC[i] : 0),
                 p.ldc,
                 p.bias,
                 p.packedB.data};
}

// Addresses of op(A)[i, k] and op(B)[k, j].
const float* aAt(const Product& p, int64_t i, int64_t k) {
  return p.transA ? p.A + k * p.lda + i : p.A + i * p.lda + k;
}
const float* bAt(const Product& p, int64_t k, int64_t j) {
  return p.transB ? p.B + j * p.ldb + k : p.B + k * p.ldb + j;
}

// K = 0: an empty sum, so C is the bias (or zero).
void emptySum(const Product& p) {
  for (int64_t i = 0; i < p.M; ++i) {
    float* row = p.C + i * p.ldc;
    if (p.bias != nullptr) {
      std::memcpy(row, p.bias, sizeof(float) * p.N);
    } else {
      std::memset(row, 0, sizeof(float) * p.N);
    }
  }
}

// How the micro-kernel reads A when A is not packed: which tile function, and how many rows a
// tile takes (see kInPlaceMaxRows).
struct InPlaceA {
  MatmulTileFn tile;
  int rows;
  int64_t tileStep;  // distance in floats between consecutive row tiles of A
};

InPlaceA inPlaceA(const MatmulKernels& mk, const Product& p) {
  if (p.transA) return InPlaceA{mk.tileKMajorA, mk.mr, mk.mr};
  const int rows = std::min(mk.mr, kInPlaceMaxRows);
  return InPlaceA{mk.tileRowMajorA, rows, rows * p.lda};
}

// Every tile of C[M x N] over all of K, A read in place, B panels bPanelStride apart (rows
// bStride apart): column panels outside, so each B panel is reused by every row tile.
void tilesInPlace(const InPlaceA& a, int nr, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  const float* b, int64_t bStride, int64_t bPanelStride, float* C, int64_t ldc, bool accumulate,
                  const float* bias) {
  for (int64_t j = 0; j < N; j += nr, b += bPanelStride) {
    const int n = static_cast<int>(std::min<int64_t>(nr, N - j));
    const float* aTile = A;
    for (int64_t i = 0; i < M; i += a.rows, aTile += a.tileStep) {
      const int m = static_cast<int>(std::min<int64_t>(a.rows, M - i));
      a.tile(K, aTile, lda, b, bStride, C + i * ldc + j, ldc, m, n, accumulate, bias != nullptr ? bias + j : nullptr);
    }
  }
}

// ---- Small products and thin A ------------------------------------------------------------------
// Columns [j0, j1) of the product on the calling thread, A read in place; B read in place too when
// its rows are contiguous (no transB), else packed into this thread's scratch (directSuits checks
// that it fits kDirectPackedBMaxFloats). No K blocking: either the operands are small enough for
// L1/L2, or A has so few rows that every B element is used at most a few times anyway.
void directProduct(const MatmulKernels& mk, const Product& p, int64_t j0, int64_t j1) {
  const int nr = mk.nr;
  const float* b = bAt(p, 0, j0);
  int64_t bStride = p.ldb;    // distance between consecutive k rows of a B panel
  int64_t bPanelStride = nr;  // distance between consecutive B panels
  if (p.packed != nullptr) {
    b = p.packed + j0 / nr * p.K * nr;  // j0 is a whole number of panels
    bStride = nr;
    bPanelStride = p.K * nr;
  } else if (p.transB) {
    const int64_t panelFloats = p.K * nr;
    float* packed = packedBScratch(ceilDiv(j1 - j0, nr) * panelFloats);
    mk.packB(b, p.ldb, true, p.K, j1 - j0, packed, panelFloats);
    b = packed;
    bStride = nr;
    bPanelStride = panelFloats;
  }
  tilesInPlace(inPlaceA(mk, p), nr, p.M, j1 - j0, p.K, p.A, p.lda, b, bStride, bPanelStride, p.C + j0, p.ldc, false,
               p.bias != nullptr ? p.bias + j0 : nullptr);
}

// ---- Large products -----------------------------------------------------------------------------
struct Blocking {
  int64_t kc;  // depth of an A block and of a B micro-panel
  int64_t mc;  // rows of an A block (multiple of the row tile)
  int64_t nc;  // columns of a packed B block (multiple of nr)
  int64_t ks;  // depth of a packed B block (all of K unless K is huge; multiple of kc)
};

Blocking blockingFor(const MatmulKernels& mk, int64_t N, int64_t K, int rowTile) {
  Blocking b;
  const int64_t kcMax = std::min(kMaxKc, std::max<int64_t>(kMinKc, kB_MicroPanelBytes / (mk.nr * sizeof(float))));
  // Equal K blocks rather than full ones and a short remainder: K = 600 runs as 2 x 300, not
  // 512 + 88, so no block pays the C traffic of a short KC.
  b.kc = ceilDiv(K, ceilDiv(K, kcMax));
  b.mc = std::max<int64_t>(rowTile, kA_BlockBytes / (b.kc * sizeof(float)) / rowTile * rowTile);
  // The B block holds all of K when at least kMinNc columns fit the budget; otherwise (huge K) it
  // is cut along K as well, in multiples of kc.
  const int64_t budgetFloats = kB_BlockBytes / sizeof(float);
  const int64_t nPadded = roundUp(N, mk.nr);
  const int64_t ncMin = std::min(nPadded, roundUp(kMinNc, mk.nr));
  if (K * ncMin <= budgetFloats) {
    b.ks = K;
    b.nc = std::min(nPadded, std::max<int64_t>(mk.nr, budgetFloats / K / mk.nr * mk.nr));
  } else {
    b.nc = ncMin;
    b.ks = std::max<int64_t>(b.kc, budgetFloats / ncMin / b.kc * b.kc);
  }
  return b;
}

// The packed B block a set of tasks shares: K range [k0, k0 + depth) of columns [jc, jc + nc).
struct PackedB {
  const float* data;
  int64_t jc, nc;
  int64_t k0, depth;
  int64_t panelFloats;  // depth * nr: distance between consecutive panels
};

// One task's share of a packed B block: rows [i0, i1) (multiples of the row tile except at M) and
// B panels [panel0, panel1) of the block.
struct TaskRange {
  int64_t i0, i1;
  int64_t panel0, panel1;
};

void runTask(const MatmulKernels& mk, const Product& p, const Blocking& blk, const PackedB& pb, bool packA,
             const TaskRange& r) {
  const int nr = mk.nr;
  const InPlaceA inPlace = inPlaceA(mk, p);
  const int rows = packA ? mk.mr : inPlace.rows;
  for (int64_t pc = 0; pc < pb.depth; pc += blk.kc) {
    const int64_t kc = std::min(blk.kc, pb.depth - pc);
    const int64_t k = pb.k0 + pc;  // in op(A) / op(B) coordinates
    const bool accumulate = k > 0;
    // The bias goes with the last depth block: added once, after the whole sum.
    const float* biasBlock = k + kc == p.K && p.bias != nullptr ? p.bias + pb.jc : nullptr;
    // The task's rows in equal A blocks of whole row tiles (at most blk.mc rows each): 37 tiles with
    // room for 18 run as 13 + 12 + 12, not 18 + 18 + 1, where a one-tile block would stream every
    // B micro-panel from L3 for a single tile.
    const int64_t tiles = ceilDiv(r.i1 - r.i0, rows);
    const int64_t blocks = ceilDiv(tiles, blk.mc / rows);
    for (int64_t blockIndex = 0; blockIndex < blocks; ++blockIndex) {
      if (ThreadPool::cancelRequested()) return;  // C is abandoned: no need to finish it
      const int64_t ic = r.i0 + splitPoint(tiles, blocks, blockIndex) * rows;
      const int64_t mcCur = std::min(r.i0 + splitPoint(tiles, blocks, blockIndex + 1) * rows, r.i1) - ic;
      const float* aBlock = aAt(p, ic, k);
      int64_t aStride = p.lda, aTileStep = inPlace.tileStep;
      MatmulTileFn tile = inPlace.tile;
      if (packA) {
        float* packed = packedAScratch(roundUp(mcCur, mk.mr) * kc);
        mk.packA(aBlock, p.lda, p.transA, mcCur, kc, packed);
        aBlock = packed;
        aStride = mk.mr;
        aTileStep = mk.mr * kc;
        tile = mk.tileKMajorA;
      }
      for (int64_t panel = r.panel0; panel < r.panel1; ++panel) {
        const int64_t j = panel * nr;  // within the column block
        const int n = static_cast<int>(std::min<int64_t>(nr, pb.nc - j));
        const float* bMicro = pb.data + panel * pb.panelFloats + pc * nr;
        const float* aTile = aBlock;
        float* c = p.C + ic * p.ldc + pb.jc + j;
        const float* bias = biasBlock != nullptr ? biasBlock + j : nullptr;
        for (int64_t i = 0; i < mcCur; i += rows, aTile += aTileStep, c += rows * p.ldc) {
          const int m = static_cast<int>(std::min<int64_t>(rows, mcCur - i));
          tile(kc, aTile, aStride, bMicro, nr, c, p.ldc, m, n, accumulate, bias);
        }
      }
    }
  }
}

// A large product, on `threads` pool threads (1: entirely on the calling thread, as inside a task).
void blockedProduct(const MatmulKernels& mk, const Product& p, int threads) {
  const int nr = mk.nr;
  const bool packA = p.N >= kMinPanelsToPackA * nr && (p.transA || p.K >= kMinDepthToPackRowMajorA);
  const int rows = packA ? mk.mr : inPlaceA(mk, p).rows;
  const Blocking blk = blockingFor(mk, p.N, p.K, rows);
  const int64_t rowTiles = ceilDiv(p.M, rows);
  for (int64_t jc = 0; jc < p.N; jc += blk.nc) {
    const int64_t nc = std::min(blk.nc, p.N - jc);
    const int64_t panels = ceilDiv(nc, nr);
    for (int64_t k0 = 0; k0 < p.K; k0 += blk.ks) {
      PackedB pb;
      pb.jc = jc;
      pb.nc = nc;
      pb.k0 = k0;
      pb.depth = std::min(blk.ks, p.K - k0);
      if (p.packed != nullptr) {
        // Prepacked: the block is a window of the full-depth panels (jc is a whole number of panels).
        pb.panelFloats = p.K * nr;
        pb.data = p.packed + jc / nr * pb.panelFloats + k0 * nr;
      } else {
        pb.panelFloats = pb.depth * nr;
        float* packedB = packedBScratch(panels * pb.panelFloats);
        pb.data = packedB;
        // Pack B: panels split evenly over the threads, when there is enough of it to repay a dispatch.
        const int64_t packTasks = pb.depth * nc >= kMinParallelPackFloats ? std::min<int64_t>(threads, panels) : 1;
        runTasks(packTasks, [&](int64_t t, int) {
          const int64_t q0 = splitPoint(panels, packTasks, t), q1 = splitPoint(panels, packTasks, t + 1);
          const int64_t j0 = q0 * nr, j1 = std::min(q1 * nr, nc);
          mk.packB(bAt(p, k0, jc + j0), p.ldb, p.transB, pb.depth, j1 - j0, packedB + q0 * pb.panelFloats,
                   pb.panelFloats);
        });
      }

      // Tasks: row chunks first (each reads or packs only its own rows of A); column groups only
      // when there are too few row tiles to give every thread its share.
      const double work = static_cast<double>(p.M) * nc * pb.depth;
      int64_t wantTasks = std::min<int64_t>(threads == 1 ? 1 : int64_t{threads} * kTasksPerThread,
                                            static_cast<int64_t>(work / kMinTaskWork));
      // A whole number of tasks per thread: 3 equal tasks on 2 threads take as long as 4.
      wantTasks = wantTasks >= threads ? wantTasks / threads * threads : std::max<int64_t>(1, wantTasks);
      const int64_t rowChunks = std::min(rowTiles, wantTasks);
      const int64_t colGroups = std::min(panels, ceilDiv(wantTasks, rowChunks));
      runTasks(rowChunks * colGroups, [&](int64_t t, int) {
        const int64_t rc = t / colGroups, cg = t % colGroups;
        TaskRange r;
        r.i0 = splitPoint(rowTiles, rowChunks, rc) * rows;
        r.i1 = std::min(splitPoint(rowTiles, rowChunks, rc + 1) * rows, p.M);
        r.panel0 = splitPoint(panels, colGroups, cg);
        r.panel1 = splitPoint(panels, colGroups, cg + 1);
        runTask(mk, p, blk, pb, packA, r);
      });
    }
  }
}

// Whether directProduct suits an item: small, or so few rows that packing B would not pay.
bool directSuits(const Product& p, int64_t nr) {
  const bool small = static_cast<double>(p.M) * p.N * p.K <= kDirectMaxWork;
  if (!p.transB || p.packed != nullptr) return small || p.M <= kThinAMaxRows;
  // With transB the direct path packs all of B: only while that stays small.
  return small && roundUp(p.N, nr) * p.K <= kDirectPackedBMaxFloats;
}

// One item, direct or blocked, on `threads` threads.
void product(const MatmulKernels& mk, const Product& p, int threads) {
  if (!directSuits(p, mk.nr)) {
    blockedProduct(mk, p, threads);
    return;
  }
  // Thin A with a wide B: columns split over the threads.
  const double work = static_cast<double>(p.M) * p.N * p.K;
  const int64_t panels = ceilDiv(p.N, mk.nr);
  const int64_t tasks = std::min<int64_t>(std::min<int64_t>(threads, panels),
                                          std::max<int64_t>(1, static_cast<int64_t>(work / kMinTaskWork)));
  runTasks(tasks, [&](int64_t t, int) {
    const int64_t j0 = splitPoint(panels, tasks, t) * mk.nr;
    const int64_t j1 = std::min(splitPoint(panels, tasks, t + 1) * mk.nr, p.N);
    directProduct(mk, p, j0, j1);
  });
}

// ---- A few rows times a transposed B (decoding: x W^T for one token) -----------------------------
// Every C[i, j] is a dot product of row i of A with row j of B, both contiguous: streaming B once
// through the ISA's dot loop reads each weight exactly once, where packing B (the blocked and direct
// paths) would read it, write it and read it again — 3x the traffic of this memory-bound product.
// dotRows takes four B rows at a time (eight FMA chains): one row per dot keeps a single chain,
// too few loads in flight to stream B from L3 at full speed.
constexpr int64_t kDotMaxRows = 4;
// With several rows of A, B is read in groups of this many bytes, each passed by every row of A.
constexpr int64_t kDotGroupBytes = 256 * 1024;

bool dotPathSuits(const MatmulProblem& p, const KernelTable& k) {
  return p.transB && !p.transA && p.M <= kDotMaxRows && k.vectorOps != nullptr;
}

void rowDotProducts(const KernelTable& k, const MatmulProblem& prob, const MatmulBatch& batch) {
  const auto dotRows = k.vectorOps->dotRows;
  const auto axpy = k.vectorOps->axpy;
  const double work = static_cast<double>(prob.M) * prob.N * prob.K * batch.count;
  // Columns in chunks of whole rows of B, a few per thread; small products stay on this thread.
  const int threads = work <= kDirectMaxWork ? 1 : ThreadPool::instance().numThreads();
  const int64_t chunks = std::min<int64_t>(prob.N, threads == 1 ? 1 : 4 * threads);
  runTasks(batch.count * chunks, [&](int64_t t, int) {
    const Product p = itemOf(prob, batch, t / chunks);
    const int64_t c = t % chunks;
    const int64_t j0 = splitPoint(p.N, chunks, c), j1 = splitPoint(p.N, chunks, c + 1);
    // B rows in groups that stay in L2 while each row of A passes over them.
    const int64_t group = std::max<int64_t>(4, kDotGroupBytes / (p.K * static_cast<int64_t>(sizeof(float))) / 4 * 4);
    for (int64_t g = j0; g < j1; g += group) {
      const int64_t rows = std::min(group, j1 - g);
      for (int64_t i = 0; i < p.M; ++i) {
        float* c = p.C + i * p.ldc + g;
        dotRows(p.A + i * p.lda, p.B + g * p.ldb, p.ldb, rows, p.K, c);
        if (p.bias != nullptr) axpy(1.0f, p.bias + g, c, rows);  // the epilogue, while c is in L1
      }
    }
  });
}

// ---- A few rows times prepacked panels (decoding with packed weights) ----------------------------
// The panels serve a GEMV as well as the tile: each k step broadcasts x[k] and multiplies a
// contiguous row of nr weights, so B streams once, front to back per panel. mk.panelRows keeps
// several panels in flight for one row of A; a partial last panel goes through the tile.
void panelRowProducts(const MatmulKernels& mk, const MatmulProblem& prob, const MatmulBatch& batch) {
  const int nr = mk.nr;
  const int64_t panels = ceilDiv(prob.N, nr);
  const double work = static_cast<double>(prob.M) * prob.N * prob.K * batch.count;
  const int threads = work <= kDirectMaxWork ? 1 : ThreadPool::instance().numThreads();
  const int64_t chunks = std::min<int64_t>(panels, threads == 1 ? 1 : 4 * threads);
  runTasks(batch.count * chunks, [&](int64_t t, int) {
    const Product p = itemOf(prob, batch, t / chunks);
    const int64_t c = t % chunks;
    const int64_t q0 = splitPoint(panels, chunks, c), q1 = splitPoint(panels, chunks, c + 1);
    const int64_t panelFloats = p.K * nr;
    const int64_t full = std::min(q1, p.N / nr) - q0;  // whole panels in this chunk
    const int m = static_cast<int>(p.M);
    if (full > 0) {
      mk.panelRows(p.K, p.A, p.lda, m, p.packed + q0 * panelFloats, panelFloats, full, p.C + q0 * nr, p.ldc,
                   p.bias != nullptr ? p.bias + q0 * nr : nullptr);
    }
    for (int64_t q = q0 + std::max<int64_t>(full, 0); q < q1; ++q) {  // the partial last panel
      const int64_t j = q * nr;
      mk.tileRowMajorA(p.K, p.A, p.lda, p.packed + q * panelFloats, nr, p.C + j, p.ldc, m, static_cast<int>(p.N - j),
                       false, p.bias != nullptr ? p.bias + j : nullptr);
    }
  });
}

// ---- ISAs without micro-kernels (the scalar reference) ------------------------------------------
void unblockedProducts(const MatmulKernels& mk, const MatmulProblem& prob, const MatmulBatch& batch) {
  // Row chunks of about kMinTaskWork multiply-adds each, over all items.
  const double rowWork = std::max(1.0, static_cast<double>(prob.N) * prob.K);
  const int64_t rowsPerTask =
      std::max<int64_t>(1, std::min<int64_t>(prob.M, static_cast<int64_t>(kMinTaskWork / rowWork)));
  const int64_t chunks = ceilDiv(prob.M, rowsPerTask);
  runTasks(batch.count * chunks, [&](int64_t t, int) {
    const Product p = itemOf(prob, batch, t / chunks);
    const int64_t i0 = (t % chunks) * rowsPerTask, i1 = std::min(p.M, i0 + rowsPerTask);
    // Panels one column wide are W's rows as they are: op(B) with transB, row stride K.
    const bool packed = p.packed != nullptr;
    mk.unblocked(i1 - i0, p.N, p.K, aAt(p, i0, 0), p.lda, p.transA, packed ? p.packed : p.B, packed ? p.K : p.ldb,
                 packed || p.transB, p.C + i0 * p.ldc, p.ldc, false, p.bias);
  });
}

}  // namespace

void matmul(const KernelTable& kernels, const MatmulProblem& prob, const MatmulBatch& batch) {
  if (prob.M <= 0 || prob.N <= 0 || batch.count <= 0) return;
  if (prob.K <= 0) {
    for (int64_t i = 0; i < batch.count; ++i) emptySum(itemOf(prob, batch, i));
    return;
  }
  const MatmulKernels& mk = *kernels.matmul;
  SA_ASSERT(prob.packedB.data == nullptr ||
                (prob.packedB.N == prob.N && prob.packedB.K == prob.K && prob.packedB.nr == matmulPanelWidth(kernels)),
            "packed B of another geometry");
  if (prob.bf16Products && bf16ProductsApply(kernels, prob)) {
    matmulBf16(kernels, prob, batch);
    return;
  }
  if (mk.mr == 0) {
    unblockedProducts(mk, prob, batch);
    return;
  }
  if (prob.packedB.data != nullptr && !prob.transA && prob.M <= kPanelRowsMaxRows) {
    panelRowProducts(mk, prob, batch);
    return;
  }
  if (prob.packedB.data == nullptr && dotPathSuits(prob, kernels)) {
    rowDotProducts(kernels, prob, batch);
    return;
  }
  const double itemWork = static_cast<double>(prob.M) * prob.N * prob.K;
  if (itemWork * static_cast<double>(batch.count) <= kDirectMaxWork) {
    // Small: the calling thread alone, no pool, no lock.
    for (int64_t i = 0; i < batch.count; ++i) product(mk, itemOf(prob, batch, i), 1);
    return;
  }
  ThreadPool& pool = ThreadPool::instance();
  const int threads = pool.numThreads();
  // Whole items per task when there are enough of them to keep every thread equally busy (or they
  // are too small to split); else the items one after the other, each split over the pool.
  const bool spreadItems = batch.count > 1 && (threads == 1 || itemWork <= kDirectMaxWork ||
                                               batch.count % threads == 0 || batch.count >= 4 * threads);
  if (spreadItems) {
    pool.parallelFor(batch.count, [&](int64_t i, int) { product(mk, itemOf(prob, batch, i), 1); });
    return;
  }
  for (int64_t i = 0; i < batch.count; ++i) product(mk, itemOf(prob, batch, i), threads);
}

void matmulInPlace(const MatmulKernels& mk, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) emptySum(Product{M, N, 0, A, lda, false, B, ldb, false, C, ldc, nullptr, nullptr});
    return;
  }
  if (mk.mr == 0) {
    mk.unblocked(M, N, K, A, lda, false, B, ldb, false, C, ldc, accumulate, nullptr);
    return;
  }
  const Product p{M, N, K, A, lda, false, B, ldb, false, C, ldc, nullptr, nullptr};
  tilesInPlace(inPlaceA(mk, p), mk.nr, M, N, K, A, lda, B, ldb, mk.nr, C, ldc, accumulate, nullptr);
}

bool bf16ProductsApply(const KernelTable& kernels, const MatmulProblem& prob) {
  const MatmulBf16Kernels* bk = kernels.matmulBf16;
  return bk != nullptr && prob.M > kPanelRowsMaxRows && (prob.packedB.data == nullptr || prob.packedB.nr == bk->nr);
}

int matmulPanelWidth(const KernelTable& kernels) {
  const MatmulKernels& mk = *kernels.matmul;
  return mk.mr == 0 ? 1 : mk.nr;
}

int64_t packedPanelsFloats(const KernelTable& kernels, int64_t N, int64_t K) {
  const int nr = matmulPanelWidth(kernels);
  return roundUp(N, nr) * K;
}

PackedPanels packMatmulWeights(const KernelTable& kernels, const float* w, int64_t ldw, int64_t N, int64_t K,
                               float* out) {
  const MatmulKernels& mk = *kernels.matmul;
  const int nr = matmulPanelWidth(kernels);
  const int64_t panels = ceilDiv(N, nr), panelFloats = K * nr;
  if (N > 0 && K > 0) {
    const int64_t tasks = std::min<int64_t>(ThreadPool::instance().numThreads(),
                                            std::max<int64_t>(1, panels * panelFloats / kMinParallelPackFloats));
    runTasks(std::min(tasks, panels), [&](int64_t t, int) {
      const int64_t q0 = splitPoint(panels, std::min(tasks, panels), t);
      const int64_t q1 = splitPoint(panels, std::min(tasks, panels), t + 1);
      if (mk.mr == 0) {
        for (int64_t n = q0; n < q1; ++n) std::memcpy(out + n * K, w + n * ldw, sizeof(float) * K);
      } else {
        const int64_t j0 = q0 * nr, j1 = std::min(q1 * nr, N);
        mk.packB(w + j0 * ldw, ldw, true, K, j1 - j0, out + q0 * panelFloats, panelFloats);
      }
    });
  }
  return PackedPanels{out, N, K, nr};
}

}  // namespace sa
