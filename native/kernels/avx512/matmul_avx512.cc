// AVX-512 matmul micro-kernels: register tiles of up to 14 rows x 32 columns (two zmm of 16).
//
// Register budget (32 zmm): 28 accumulators + 2 B vectors + 1-2 A broadcasts. Each k step loads
// 2 B vectors and broadcasts up to 14 A scalars for 28 FMAs; 28 independent accumulators cover the
// 4-cycle FMA latency on two FMA pipes (8 chains needed) with margin. The full 14-row tile runs on
// packed A panels; A read in place uses tiles of at most 8 rows (kInPlaceMaxRows in
// matmul_driver.cc), 16 accumulators, which Zen 4's one zmm FMA per cycle still saturates.
// 32 columns rather than 48 or 64 divide the head widths of attention (64, 128) evenly.
//
// Packing: the transposing cases (B with transB; A without transA, packed when K is long) go
// through 16 x 16 in-register transposes; the other cases are row copies (matmul_packing.h).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/matmul_packing.h"

namespace sa {
namespace {

constexpr int kMr = 14;
constexpr int kNr = 32;
constexpr int kLanes = 16;
constexpr int64_t kPrefetchSteps = 8;

// One register tile of M rows (1..kMr) and NV vectors (1..2) of 16 columns. kMaskLast: the last
// vector holds fewer than 16 columns, so its B loads and C loads/stores use `lastMask` and never
// touch the columns past n. kRowMajorA: see matmul_kernels.h (A read in place, one row per
// broadcast stream) versus k-major (packed panel or transposed A).
template <int M, int NV, bool kRowMajorA, bool kMaskLast>
void tileAvx512(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride,
                float* c, int64_t ldc, __mmask16 lastMask, bool accumulate) {
  __m512 acc[M][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  // Start fetching the C tile now, so its write (or read-modify-write) at the end finds it in L1
  // instead of stalling on L2/L3 misses. Prefetches never fault, so edge tiles need no care.
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + v * kLanes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * kLanes - 1), _MM_HINT_T0);
  }
  const int64_t aStep = kRowMajorA ? 1 : aStride;
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      bv[v] = (kMaskLast && v == NV - 1) ? _mm512_maskz_loadu_ps(lastMask, b + v * kLanes)
                                         : _mm512_loadu_ps(b + v * kLanes);
    }
    // The B micro-panel streams from L2, or from L3 on its first use (see KC in matmul_driver.cc):
    // fetch kPrefetchSteps k-steps ahead, 130-230 cycles at 16-28 FMAs per step, which covers an
    // L3 hit. Measured +8% on 1024^3; A needs nothing (L1/L2-resident, or a prefetched stream).
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchSteps * bStride + v * kLanes), _MM_HINT_T0);
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const __m512 ai = _mm512_set1_ps(kRowMajorA ? a[i * aStride] : a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += aStep;
    b += bStride;
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (kMaskLast && v == NV - 1) {
        __m512 r = acc[i][v];
        if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(lastMask, ci + v * kLanes));
        _mm512_mask_storeu_ps(ci + v * kLanes, lastMask, r);
      } else {
        __m512 r = acc[i][v];
        if (accumulate) r = _mm512_add_ps(r, _mm512_loadu_ps(ci + v * kLanes));
        _mm512_storeu_ps(ci + v * kLanes, r);
      }
    }
  }
}

using TileImpl = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                          __mmask16, bool);

// kTiles[vectors - 1][masked][rows - 1]
template <bool kRowMajorA, int NV, bool kMask, std::size_t... I>
constexpr std::array<TileImpl, sizeof...(I)> tilesByRows(std::index_sequence<I...>) {
  return {{&tileAvx512<static_cast<int>(I) + 1, NV, kRowMajorA, kMask>...}};
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
void tileEntryAvx512(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride,
                     float* c, int64_t ldc, int m, int n, bool accumulate) {
  const int vectors = (n + kLanes - 1) / kLanes;
  const int tail = n % kLanes;
  const __mmask16 lastMask = tail == 0 ? static_cast<__mmask16>(0xFFFF)
                                       : static_cast<__mmask16>((1u << tail) - 1);
  TileTable<kRowMajorA>::kTiles[vectors - 1][tail != 0][m - 1](k, a, aStride, b, bStride, c, ldc,
                                                                lastMask, accumulate);
}

// ---- Packing --------------------------------------------------------------------------------
// In-register transpose of a 16 x 16 block: r[i][j] becomes r[j][i]. 64 shuffles for 256 floats:
// pairs of rows interleaved (unpack ps), then pairs of pairs (unpack pd), then the 128-bit lanes
// of four rows (two rounds of shuffle_f32x4).
inline void transpose16x16(__m512 (&r)[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // s[q][c]: rows 4q..4q+3, column 4L + c in 128-bit lane L.
  __m512 s[4][4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    const __m512d lo0 = _mm512_castps_pd(t[4 * q]), hi0 = _mm512_castps_pd(t[4 * q + 1]);
    const __m512d lo1 = _mm512_castps_pd(t[4 * q + 2]), hi1 = _mm512_castps_pd(t[4 * q + 3]);
    s[q][0] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
    s[q][1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
    s[q][2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
    s[q][3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
  }
  // Column 4L + c gathers lane L of s[0..3][c].
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m512 x0 = _mm512_shuffle_f32x4(s[0][c], s[1][c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 x1 = _mm512_shuffle_f32x4(s[0][c], s[1][c], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 x2 = _mm512_shuffle_f32x4(s[2][c], s[3][c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 x3 = _mm512_shuffle_f32x4(s[2][c], s[3][c], _MM_SHUFFLE(3, 2, 3, 2));
    r[c] = _mm512_shuffle_f32x4(x0, x2, _MM_SHUFFLE(2, 0, 2, 0));
    r[4 + c] = _mm512_shuffle_f32x4(x0, x2, _MM_SHUFFLE(3, 1, 3, 1));
    r[8 + c] = _mm512_shuffle_f32x4(x1, x3, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + c] = _mm512_shuffle_f32x4(x1, x3, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

inline __mmask16 firstLanes(int count) {
  return static_cast<__mmask16>(count >= 16 ? 0xFFFF : (1u << count) - 1);
}

// packLinesTransposed (matmul_packing.h) with 16 x 16 register transposes: 16 lines are read 16
// floats at a time (sequential reads, no L1 set conflicts whatever the stride) and written as 16
// depth steps of the panel. Masked loads stop at the last line and the last depth step.
template <int W>
void packLinesTransposedAvx512(const float* x, int64_t lineStride, int64_t lines, int64_t depth,
                               float* out, int64_t panelStride) {
  for (int64_t l0 = 0; l0 < lines; l0 += W, out += panelStride) {
    const int64_t panelLines = lines - l0 < W ? lines - l0 : W;
    for (int g0 = 0; g0 < W; g0 += kLanes) {  // groups of 16 lines within the panel's W
      const int slot = W - g0 < kLanes ? W - g0 : kLanes;  // floats of each W-row this group fills
      const int valid = panelLines - g0 <= 0 ? 0 : static_cast<int>(std::min<int64_t>(slot, panelLines - g0));
      const __mmask16 slotMask = firstLanes(slot);
      const float* src = valid > 0 ? x + (l0 + g0) * lineStride : x;  // no pointer past the lines
      for (int64_t p0 = 0; p0 < depth; p0 += kLanes) {
        const int steps = depth - p0 < kLanes ? static_cast<int>(depth - p0) : kLanes;
        const __mmask16 depthMask = firstLanes(steps);
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) {
          r[i] = i < valid ? _mm512_maskz_loadu_ps(depthMask, src + i * lineStride + p0)
                           : _mm512_setzero_ps();
        }
        transpose16x16(r);
        float* dst = out + p0 * W + g0;
        if (slot == kLanes) {
          for (int j = 0; j < steps; ++j) _mm512_storeu_ps(dst + j * W, r[j]);
        } else {
          for (int j = 0; j < steps; ++j) _mm512_mask_storeu_ps(dst + j * W, slotMask, r[j]);
        }
      }
    }
  }
}

void packAAvx512(const float* a, int64_t lda, bool transA, int64_t m, int64_t k, float* out) {
  if (transA) {
    packLinesContiguous<kMr>(a, lda, m, k, out, k * kMr);
  } else {
    packLinesTransposedAvx512<kMr>(a, lda, m, k, out, k * kMr);
  }
}

// Row-major B into kNr-column panels, a few rows at a time across all the panels: each source row
// is read front to back (one stream per row, which the hardware prefetcher follows), where walking
// one panel down all k rows (packLinesContiguous) reads 128 bytes from each 4 KiB-apart row and
// leaves the prefetcher nothing to follow: measured 5% of a 2-thread 1024^3 product before.
void packRowsIntoPanelsAvx512(const float* b, int64_t ldb, int64_t k, int64_t n, float* out,
                              int64_t panelStride) {
  constexpr int64_t kRowsPerPass = 8;
  const int64_t fullPanels = n / kNr;
  const int tail = static_cast<int>(n - fullPanels * kNr);
  for (int64_t p0 = 0; p0 < k; p0 += kRowsPerPass) {
    const int64_t p1 = std::min(k, p0 + kRowsPerPass);
    for (int64_t q = 0; q < fullPanels; ++q) {
      float* dst = out + q * panelStride;
      const float* src = b + q * kNr;
      for (int64_t p = p0; p < p1; ++p) {
        _mm512_storeu_ps(dst + p * kNr, _mm512_loadu_ps(src + p * ldb));
        _mm512_storeu_ps(dst + p * kNr + kLanes, _mm512_loadu_ps(src + p * ldb + kLanes));
      }
    }
    if (tail > 0) {  // the last panel: masked loads stop at column n, the rest of the row is zero
      float* dst = out + fullPanels * panelStride;
      const float* src = b + fullPanels * kNr;
      const __mmask16 lo = firstLanes(tail), hi = firstLanes(tail > kLanes ? tail - kLanes : 0);
      for (int64_t p = p0; p < p1; ++p) {
        _mm512_storeu_ps(dst + p * kNr, _mm512_maskz_loadu_ps(lo, src + p * ldb));
        _mm512_storeu_ps(dst + p * kNr + kLanes, _mm512_maskz_loadu_ps(hi, src + p * ldb + kLanes));
      }
    }
  }
}

void packBAvx512(const float* b, int64_t ldb, bool transB, int64_t k, int64_t n, float* out,
                 int64_t panelStride) {
  if (transB) {
    packLinesTransposedAvx512<kNr>(b, ldb, n, k, out, panelStride);
  } else {
    packRowsIntoPanelsAvx512(b, ldb, k, n, out, panelStride);
  }
}

}  // namespace
}  // namespace sa
SA_TARGET_END

namespace sa {
// Outside the target region: dispatch calls this on every CPU, AVX-512 or not.
const MatmulKernels* matmulKernelsAvx512() {
  static const MatmulKernels kernels{
      "avx512",          kMr, kNr, &tileEntryAvx512<false>, &tileEntryAvx512<true>,
      &packAAvx512,      &packBAvx512,      nullptr};
  return &kernels;
}
}  // namespace sa

#else
namespace sa {
const MatmulKernels* matmulKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
