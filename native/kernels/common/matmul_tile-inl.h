// The matmul micro-kernel and its packing, written once over a vector-traits class V
// (kernels/<isa>/matmul_<isa>.cc defines V and calls matmulKernelsOf<V>). Include inside the ISA's
// target region, after <algorithm>, <array>, <cstdint> and <utility>; everything here has internal linkage, for
// the reason matmul_packing.h gives.
//
// The micro-kernel contract (BLIS), as matmul_kernels.h states it for MatmulTileFn: one call
// computes an m x n tile of C (1 <= m <= V::kMr, 1 <= n <= V::kNr) over the whole depth k >= 1,
// with the tile in registers (m rows x ceil(n / kLanes) vectors); per k step it loads the B row
// (n floats, contiguous) and broadcasts the m values of A. C is touched once, at the end:
// C = (accumulate ? C : 0) + A.B (+ bias[j]). Only rows i < m of A, columns j < n of B, C and the
// bias are read or written: the last vector of a tile narrower than kNr is masked.
//
// V is the ISA's vector traits (kernels/common/vec_<isa>.h) plus the matmul's own members. From the
// vector traits:
//   F, Mask, W (the lanes, written kLanes below)
//   zero(), loadu(p), storeu(p, v), add(a, b), fmadd(a, b, c), bcast(p) (*p in every lane)
//   lanes(count) -> Mask, loadMasked(p, mask), storeMasked(p, mask, v): the first `count` lanes
//     only, the other lanes of a load zero, nothing past p[count - 1] touched
//   transpose(r) (kTransposeInRegisters only): r[i] lane j becomes r[j] lane i
// The matmul's own:
//   kMr, kNr (kNr a multiple of kLanes)
//   prefetch(p), kPrefetchC (prefetch the C tile at the start), kPrefetchBSteps (B this many k
//     steps ahead; 0: none)
//   kFmaByLane: k-major A steps use V::fmaKMajor<M, NV>(acc, bv, a) (M values of A from one
//     vector load, FMA by lane) instead of M broadcasts
//   kTransposeInRegisters: packing transposes kLanes x kLanes blocks through V::transpose; else plain loops
//   kPackRowsAcrossPanels: row-major B is packed a few rows at a time across all panels
#pragma once
#include "kernels/common/matmul_packing.h"
#include "kernels/common/unroll.h"

namespace sa {
namespace {

// One register tile of M rows and NV vectors. kMaskLast: the last vector holds fewer than kLanes
// columns (lastCount). kRowMajorA: see matmul_kernels.h (A read in place, one row per broadcast
// stream) versus k-major (packed panel or transposed A).
template <class V, int M, int NV, bool kRowMajorA, bool kMaskLast>
void matmulTile(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride, float* c, int64_t ldc,
                int lastCount, bool accumulate, const float* bias) {
  using F = typename V::F;
  constexpr int L = V::W;
  const typename V::Mask lastMask = V::lanes(lastCount);
  F acc[M][NV];
  SA_UNROLL_FULL
  for (int i = 0; i < M; ++i) {
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  }
  // Start fetching the C tile now, so its write (or read-modify-write) at the end finds it in L1
  // instead of stalling on L2/L3 misses: each cache line of the row, then its last float.
  // Prefetches never fault, so edge tiles need no care.
  if (V::kPrefetchC) {
    SA_UNROLL_FULL
    for (int i = 0; i < M; ++i) {
      SA_UNROLL_FULL
      for (int off = 0; off < NV * L; off += 16) V::prefetch(c + i * ldc + off);
      V::prefetch(c + i * ldc + NV * L - 1);
    }
  }
  const int64_t aStep = kRowMajorA ? 1 : aStride;
  for (int64_t p = 0; p < k; ++p) {
    F bv[NV];
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) {
      bv[v] = (kMaskLast && v == NV - 1) ? V::loadMasked(b + v * L, lastMask) : V::loadu(b + v * L);
    }
    // The B micro-panel streams from L2, or from L3 on its first use (see KC in matmul_driver.cc):
    // fetching it a few k steps ahead covers an L3 hit. A needs nothing (L1/L2-resident, or a
    // prefetched stream).
    if (V::kPrefetchBSteps > 0) {
      SA_UNROLL_FULL
      for (int v = 0; v < NV; ++v) V::prefetch(b + V::kPrefetchBSteps * bStride + v * L);
    }
    if constexpr (V::kFmaByLane && !kRowMajorA) {
      V::template fmaKMajor<M, NV>(acc, bv, a);
    } else {
      SA_UNROLL_FULL
      for (int i = 0; i < M; ++i) {
        const F ai = V::bcast(kRowMajorA ? a + i * aStride : a + i);
        SA_UNROLL_FULL
        for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(ai, bv[v], acc[i][v]);
      }
    }
    a += aStep;
    b += bStride;
  }
  // The epilogue: the earlier depth blocks' sum, then the bias (the driver passes it with the last
  // depth block only, so the bias is added once, after the whole sum).
  SA_UNROLL_FULL
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) {
      F r = acc[i][v];
      if (kMaskLast && v == NV - 1) {
        if (accumulate) r = V::add(r, V::loadMasked(ci + v * L, lastMask));
        if (bias != nullptr) r = V::add(r, V::loadMasked(bias + v * L, lastMask));
        V::storeMasked(ci + v * L, lastMask, r);
      } else {
        if (accumulate) r = V::add(r, V::loadu(ci + v * L));
        if (bias != nullptr) r = V::add(r, V::loadu(bias + v * L));
        V::storeu(ci + v * L, r);
      }
    }
  }
}

template <class V>
using MatmulTileImpl = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t, int, bool,
                                const float*);

// MatmulTileTable<V, kRowMajorA>::kTiles[vectors - 1][masked][rows - 1]
template <class V, bool kRowMajorA, int NV, bool kMask, std::size_t... I>
constexpr std::array<MatmulTileImpl<V>, sizeof...(I)> matmulTilesByRows(std::index_sequence<I...>) {
  return {{&matmulTile<V, static_cast<int>(I) + 1, NV, kRowMajorA, kMask>...}};
}
template <class V, bool kRowMajorA, std::size_t... NV>
constexpr auto matmulTilesByVectors(std::index_sequence<NV...>) {
  using Rows = std::make_index_sequence<V::kMr>;
  using Row = std::array<std::array<MatmulTileImpl<V>, V::kMr>, 2>;
  return std::array<Row, sizeof...(NV)>{{Row{{matmulTilesByRows<V, kRowMajorA, NV + 1, false>(Rows{}),
                                              matmulTilesByRows<V, kRowMajorA, NV + 1, true>(Rows{})}}...}};
}
template <class V, bool kRowMajorA>
struct MatmulTileTable {
  static constexpr auto kTiles = matmulTilesByVectors<V, kRowMajorA>(std::make_index_sequence<V::kNr / V::W>{});
};

// The MatmulTileFn: picks the tile for (m, n).
template <class V, bool kRowMajorA>
void matmulTileEntry(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride, float* c, int64_t ldc,
                     int m, int n, bool accumulate, const float* bias) {
  const int vectors = (n + V::W - 1) / V::W;
  const int tail = n % V::W;
  MatmulTileTable<V, kRowMajorA>::kTiles[vectors - 1][tail != 0][m - 1](k, a, aStride, b, bStride, c, ldc, tail,
                                                                        accumulate, bias);
}

// ---- Packing --------------------------------------------------------------------------------
// packLinesTransposed (matmul_packing.h) with kLanes x kLanes register transposes: kLanes lines
// are read kLanes floats at a time (sequential reads, no L1 set conflicts whatever the stride) and
// written as kLanes depth steps of the panel; loads stop at the last line and the last depth step.
template <class V, int W>
void packLinesTransposedInRegisters(const float* x, int64_t lineStride, int64_t lines, int64_t depth, float* out,
                                    int64_t panelStride) {
  using F = typename V::F;
  constexpr int L = V::W;
  for (int64_t l0 = 0; l0 < lines; l0 += W, out += panelStride) {
    const int64_t panelLines = lines - l0 < W ? lines - l0 : W;
    for (int g0 = 0; g0 < W; g0 += L) {          // groups of kLanes lines within the panel's W
      const int slot = W - g0 < L ? W - g0 : L;  // floats of each W-row this group fills
      const int valid = panelLines - g0 <= 0 ? 0 : static_cast<int>(std::min<int64_t>(slot, panelLines - g0));
      const typename V::Mask slotMask = V::lanes(slot);
      const float* src = valid > 0 ? x + (l0 + g0) * lineStride : x;  // no pointer past the lines
      for (int64_t p0 = 0; p0 < depth; p0 += L) {
        const int steps = depth - p0 < L ? static_cast<int>(depth - p0) : L;
        const typename V::Mask depthMask = V::lanes(steps);
        F r[L];
        SA_UNROLL_FULL
        for (int i = 0; i < L; ++i) {
          const float* line = src + i * lineStride + p0;
          r[i] = i >= valid ? V::zero() : steps == L ? V::loadu(line) : V::loadMasked(line, depthMask);
        }
        V::transpose(r);
        float* dst = out + p0 * W + g0;
        const bool lastBlock = p0 + steps == depth;
        for (int j = 0; j < steps; ++j) {
          // A panel narrower than kLanes (a single slot) still takes full stores: the extra floats
          // land in the next depth step's slot, which the next store overwrites. Only the panel's
          // last step has no next one and is stored exactly, as are the slots of wider panels.
          if (slot == L || (W < L && !(lastBlock && j == steps - 1))) {
            V::storeu(dst + j * W, r[j]);
          } else {
            V::storeMasked(dst + j * W, slotMask, r[j]);
          }
        }
      }
    }
  }
}

// Row-major B into kNr-column panels, a few rows at a time across all the panels: each source row
// is read front to back (one stream per row, which the hardware prefetcher follows), where walking
// one panel down all k rows (packLinesContiguous) reads kNr floats from each row, rows ldb apart,
// and leaves the prefetcher nothing to follow.
template <class V>
void packRowsAcrossPanels(const float* b, int64_t ldb, int64_t k, int64_t n, float* out, int64_t panelStride) {
  constexpr int L = V::W, NV = V::kNr / V::W;
  constexpr int64_t kRowsPerPass = 8;
  const int64_t fullPanels = n / V::kNr;
  const int tail = static_cast<int>(n - fullPanels * V::kNr);
  for (int64_t p0 = 0; p0 < k; p0 += kRowsPerPass) {
    const int64_t p1 = std::min(k, p0 + kRowsPerPass);
    for (int64_t q = 0; q < fullPanels; ++q) {
      float* dst = out + q * panelStride;
      const float* src = b + q * V::kNr;
      for (int64_t p = p0; p < p1; ++p) {
        SA_UNROLL_FULL
        for (int v = 0; v < NV; ++v) V::storeu(dst + p * V::kNr + v * L, V::loadu(src + p * ldb + v * L));
      }
    }
    if (tail > 0) {  // the last panel: loads stop at column n, the rest of the row is zero
      float* dst = out + fullPanels * panelStride;
      const float* src = b + fullPanels * V::kNr;
      for (int64_t p = p0; p < p1; ++p) {
        SA_UNROLL_FULL
        for (int v = 0; v < NV; ++v) {
          const int count = tail - v * L;
          const float* row = src + p * ldb + v * L;
          const typename V::F x = count <= 0 ? V::zero() : V::loadMasked(row, V::lanes(count < L ? count : L));
          V::storeu(dst + p * V::kNr + v * L, x);
        }
      }
    }
  }
}

template <class V>
void matmulPackA(const float* a, int64_t lda, bool transA, int64_t m, int64_t k, float* out) {
  if (transA) {
    packLinesContiguous<V::kMr>(a, lda, m, k, out, k * V::kMr);
  } else if constexpr (V::kTransposeInRegisters) {
    packLinesTransposedInRegisters<V, V::kMr>(a, lda, m, k, out, k * V::kMr);
  } else {
    packLinesTransposed<V::kMr>(a, lda, m, k, out, k * V::kMr);
  }
}

template <class V>
void matmulPackB(const float* b, int64_t ldb, bool transB, int64_t k, int64_t n, float* out, int64_t panelStride) {
  if (transB) {
    if constexpr (V::kTransposeInRegisters) {
      packLinesTransposedInRegisters<V, V::kNr>(b, ldb, n, k, out, panelStride);
    } else {
      packLinesTransposed<V::kNr>(b, ldb, n, k, out, panelStride);
    }
  } else if constexpr (V::kPackRowsAcrossPanels) {
    packRowsAcrossPanels<V>(b, ldb, k, n, out, panelStride);
  } else {
    packLinesContiguous<V::kNr>(b, ldb, n, k, out, panelStride);
  }
}

// ---- A few rows against prepacked panels -------------------------------------------------------
// R rows of A times P full panels: R * P * kNr / kLanes accumulators, P panel streams read once.
template <class V, int R, int P>
void matmulPanelGroup(int64_t k, const float* a, int64_t lda, const float* b, int64_t panelStride, float* c,
                      int64_t ldc, const float* bias) {
  using F = typename V::F;
  constexpr int L = V::W, NV = V::kNr / V::W;
  F acc[R][P][NV];
  SA_UNROLL_FULL
  for (int i = 0; i < R; ++i) {
    SA_UNROLL_FULL
    for (int q = 0; q < P; ++q) {
      SA_UNROLL_FULL
      for (int v = 0; v < NV; ++v) acc[i][q][v] = V::zero();
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    F ai[R];
    SA_UNROLL_FULL
    for (int i = 0; i < R; ++i) ai[i] = V::bcast(a + i * lda + p);
    SA_UNROLL_FULL
    for (int q = 0; q < P; ++q) {
      SA_UNROLL_FULL
      for (int v = 0; v < NV; ++v) {
        const F bv = V::loadu(b + q * panelStride + p * V::kNr + v * L);
        SA_UNROLL_FULL
        for (int i = 0; i < R; ++i) acc[i][q][v] = V::fmadd(ai[i], bv, acc[i][q][v]);
      }
    }
  }
  SA_UNROLL_FULL
  for (int i = 0; i < R; ++i) {
    SA_UNROLL_FULL
    for (int q = 0; q < P; ++q) {
      SA_UNROLL_FULL
      for (int v = 0; v < NV; ++v) {
        const int64_t j = q * V::kNr + v * L;
        F r = acc[i][q][v];
        if (bias != nullptr) r = V::add(r, V::loadu(bias + j));
        V::storeu(c + i * ldc + j, r);
      }
    }
  }
}

// Groups of P panels with eight or more accumulator chains where the registers allow, then single
// panels for the rest.
template <class V, int R, int P>
void matmulPanelRowsOf(int64_t k, const float* a, int64_t lda, const float* b, int64_t panelStride, int64_t panels,
                       float* c, int64_t ldc, const float* bias) {
  int64_t q = 0;
  for (; q + P <= panels; q += P) {
    matmulPanelGroup<V, R, P>(k, a, lda, b + q * panelStride, panelStride, c + q * V::kNr, ldc,
                              bias != nullptr ? bias + q * V::kNr : nullptr);
  }
  for (; q < panels; ++q) {
    matmulPanelGroup<V, R, 1>(k, a, lda, b + q * panelStride, panelStride, c + q * V::kNr, ldc,
                              bias != nullptr ? bias + q * V::kNr : nullptr);
  }
}

template <class V>
void matmulPanelRows(int64_t k, const float* a, int64_t lda, int m, const float* b, int64_t panelStride, int64_t panels,
                     float* c, int64_t ldc, const float* bias) {
  static_assert(kPanelRowsMaxRows == 4, "matmulPanelRows handles 1 to 4 rows");
  constexpr int kPanelsPerRow = 8 / (V::kNr / V::W) > 1 ? 8 / (V::kNr / V::W) : 1;  // 8 chains for one row
  switch (m) {
    case 1:
      matmulPanelRowsOf<V, 1, kPanelsPerRow>(k, a, lda, b, panelStride, panels, c, ldc, bias);
      break;
    case 2:
      matmulPanelRowsOf<V, 2, (kPanelsPerRow > 1 ? kPanelsPerRow / 2 : 1)>(k, a, lda, b, panelStride, panels, c, ldc,
                                                                           bias);
      break;
    case 3:
      matmulPanelRowsOf<V, 3, 1>(k, a, lda, b, panelStride, panels, c, ldc, bias);
      break;
    default:
      matmulPanelRowsOf<V, 4, 1>(k, a, lda, b, panelStride, panels, c, ldc, bias);
      break;
  }
}

// The table of an ISA, for a constexpr variable outside the target region: evaluated by the
// compiler, so dispatch reads it on any CPU without running code compiled for the ISA.
template <class V>
constexpr MatmulKernels matmulKernelsOf(const char* name) {
  return MatmulKernels{name,
                       V::kMr,
                       V::kNr,
                       &matmulTileEntry<V, false>,
                       &matmulTileEntry<V, true>,
                       &matmulPackA<V>,
                       &matmulPackB<V>,
                       nullptr,
                       &matmulPanelRows<V>};
}

}  // namespace
}  // namespace sa
