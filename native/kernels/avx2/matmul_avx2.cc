// AVX2 + FMA matmul micro-kernel: a 6 x 16 register tile (6 rows x two ymm of 8 columns).
//
// Register budget (16 ymm): 12 accumulators + 2 B vectors + 1 A broadcast = 15. Each k step loads
// 2 B vectors and broadcasts 6 A scalars for 12 FMAs: 8 loads per 12 FMAs fits two load ports
// feeding two FMA pipes, and 12 independent accumulators cover the 4-5 cycle FMA latency on two
// pipes (8-10 needed). 6 rows is also within the driver's limit for A read in place (8).
//
// Packing: the transposing cases go through 8 x 8 in-register transposes; the others are row
// copies (matmul_packing.h).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/matmul_packing.h"

namespace sa {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;
constexpr int kLanes = 8;

// Lane mask for the first `count` (0..8) lanes, for vmaskmovps.
inline __m256i laneMask(int count) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
}

// One register tile of M rows (1..kMr) and NV vectors (1..2) of 8 columns. kMaskLast: the last
// vector holds fewer than 8 columns, so its B loads and its C loads/stores are masked and never
// touch the columns past n (masked stores are slow on AMD, but only edge tiles use them).
template <int M, int NV, bool kRowMajorA, bool kMaskLast>
void tileAvx2(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride, float* c,
              int64_t ldc, int lastCount, bool accumulate) {
  const __m256i lastMask = laneMask(lastCount);
  __m256 acc[M][NV];
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  // Start fetching the C tile now, so its write (or read-modify-write) at the end finds it in L1
  // instead of stalling on L2/L3 misses. Prefetches never fault, so edge tiles need no care.
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * kLanes - 1), _MM_HINT_T0);
  }
  const int64_t aStep = kRowMajorA ? 1 : aStride;
  for (int64_t p = 0; p < k; ++p) {
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      bv[v] = (kMaskLast && v == NV - 1) ? _mm256_maskload_ps(b + v * kLanes, lastMask)
                                         : _mm256_loadu_ps(b + v * kLanes);
    }
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      const __m256 ai = _mm256_broadcast_ss(kRowMajorA ? a + i * aStride : a + i);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += aStep;
    b += bStride;
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      __m256 r = acc[i][v];
      if (kMaskLast && v == NV - 1) {
        if (accumulate) r = _mm256_add_ps(r, _mm256_maskload_ps(ci + v * kLanes, lastMask));
        _mm256_maskstore_ps(ci + v * kLanes, lastMask, r);
      } else {
        if (accumulate) r = _mm256_add_ps(r, _mm256_loadu_ps(ci + v * kLanes));
        _mm256_storeu_ps(ci + v * kLanes, r);
      }
    }
  }
}

using TileImpl = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                          int, bool);

// TileTable::kTiles[vectors - 1][masked][rows - 1]
template <bool kRowMajorA, int NV, bool kMask, std::size_t... I>
constexpr std::array<TileImpl, sizeof...(I)> tilesByRows(std::index_sequence<I...>) {
  return {{&tileAvx2<static_cast<int>(I) + 1, NV, kRowMajorA, kMask>...}};
}
template <bool kRowMajorA>
struct TileTable {
  using Rows = std::make_index_sequence<kMr>;
  static constexpr std::array<TileImpl, kMr> kTiles[2][2] = {
      {tilesByRows<kRowMajorA, 1, false>(Rows{}), tilesByRows<kRowMajorA, 1, true>(Rows{})},
      {tilesByRows<kRowMajorA, 2, false>(Rows{}), tilesByRows<kRowMajorA, 2, true>(Rows{})},
  };
};

template <bool kRowMajorA>
void tileEntryAvx2(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride,
                   float* c, int64_t ldc, int m, int n, bool accumulate) {
  const int vectors = (n + kLanes - 1) / kLanes;
  const int tail = n % kLanes;
  TileTable<kRowMajorA>::kTiles[vectors - 1][tail != 0][m - 1](k, a, aStride, b, bStride, c, ldc,
                                                                tail, accumulate);
}

// ---- Packing --------------------------------------------------------------------------------
// In-register transpose of an 8 x 8 block: r[i][j] becomes r[j][i] (24 shuffles for 64 floats).
inline void transpose8x8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4h + c]: rows 4h..4h+3, column 4L + c in 128-bit lane L.
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const __m256d lo0 = _mm256_castps_pd(t[4 * h]), hi0 = _mm256_castps_pd(t[4 * h + 1]);
    const __m256d lo1 = _mm256_castps_pd(t[4 * h + 2]), hi1 = _mm256_castps_pd(t[4 * h + 3]);
    u[4 * h + 0] = _mm256_castpd_ps(_mm256_unpacklo_pd(lo0, lo1));
    u[4 * h + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(lo0, lo1));
    u[4 * h + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(hi0, hi1));
    u[4 * h + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(hi0, hi1));
  }
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);      // lane 0 of both: column c
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);  // lane 1 of both: column 4 + c
  }
}

// The first `count` (0..8) floats at p, the other lanes zero; never reads past p[count - 1].
inline __m256 loadFirst(const float* p, int count) {
  return count >= kLanes ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, laneMask(count));
}

// packLinesTransposed (matmul_packing.h) with 8 x 8 register transposes: 8 lines are read 8 floats
// at a time (sequential reads, no L1 set conflicts whatever the stride) and written as 8 depth
// steps of the panel.
template <int W>
void packLinesTransposedAvx2(const float* x, int64_t lineStride, int64_t lines, int64_t depth,
                             float* out, int64_t panelStride) {
  for (int64_t l0 = 0; l0 < lines; l0 += W, out += panelStride) {
    const int64_t panelLines = lines - l0 < W ? lines - l0 : W;
    for (int g0 = 0; g0 < W; g0 += kLanes) {  // groups of 8 lines within the panel's W
      const int slot = W - g0 < kLanes ? W - g0 : kLanes;
      const int valid = panelLines - g0 <= 0 ? 0 : static_cast<int>(std::min<int64_t>(slot, panelLines - g0));
      const float* src = valid > 0 ? x + (l0 + g0) * lineStride : x;  // no pointer past the lines
      for (int64_t p0 = 0; p0 < depth; p0 += kLanes) {
        const int steps = depth - p0 < kLanes ? static_cast<int>(depth - p0) : kLanes;
        __m256 r[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; ++i) {
          r[i] = i < valid ? loadFirst(src + i * lineStride + p0, steps) : _mm256_setzero_ps();
        }
        transpose8x8(r);
        float* dst = out + p0 * W + g0;
        const bool lastBlock = p0 + steps == depth;
        for (int j = 0; j < steps; ++j) {
          // A slot narrower than 8 (W = 6) still takes a full store: its 8 - slot extra floats land
          // in the next depth step's slot, which the next store overwrites. Only the panel's last
          // step has no next one and is stored exactly.
          if (slot < kLanes && lastBlock && j == steps - 1) {
            _mm256_maskstore_ps(dst + j * W, laneMask(slot), r[j]);
          } else {
            _mm256_storeu_ps(dst + j * W, r[j]);
          }
        }
      }
    }
  }
}

void packAAvx2(const float* a, int64_t lda, bool transA, int64_t m, int64_t k, float* out) {
  if (transA) {
    packLinesContiguous<kMr>(a, lda, m, k, out, k * kMr);
  } else {
    packLinesTransposedAvx2<kMr>(a, lda, m, k, out, k * kMr);
  }
}

void packBAvx2(const float* b, int64_t ldb, bool transB, int64_t k, int64_t n, float* out,
               int64_t panelStride) {
  if (transB) {
    packLinesTransposedAvx2<kNr>(b, ldb, n, k, out, panelStride);
  } else {
    packLinesContiguous<kNr>(b, ldb, n, k, out, panelStride);
  }
}

}  // namespace
}  // namespace sa
SA_TARGET_END

namespace sa {
// Outside the target region: dispatch calls this on every CPU, AVX2 or not.
const MatmulKernels* matmulKernelsAvx2() {
  static const MatmulKernels kernels{
      "avx2",           kMr, kNr, &tileEntryAvx2<false>, &tileEntryAvx2<true>,
      &packAAvx2,       &packBAvx2,       nullptr};
  return &kernels;
}
}  // namespace sa

#else
namespace sa {
const MatmulKernels* matmulKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
