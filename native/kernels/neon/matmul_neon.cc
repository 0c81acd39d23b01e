// NEON matmul micro-kernel: an 8 x 12 register tile (8 rows x three q registers of 4 columns).
//
// Register budget (32 q): 24 accumulators + 3 B vectors + 2 A vectors = 29. Each k step loads
// 3 B vectors and 2 A vectors (8 rows of a packed panel) for 24 FMAs by lane (fmla v.4s, v.s[i]),
// so loads stay far below the FMA count; 24 independent accumulators cover the 4-cycle FMA latency
// on up to four FMA pipes (16 needed).
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/matmul_packing.h"

namespace sa {
namespace {

constexpr int kMr = 8;
constexpr int kNr = 12;
constexpr int kLanes = 4;

// The first `count` (0..4) floats at p, the other lanes zero; never reads past p[count - 1].
inline float32x4_t loadFirst(const float* p, int count) {
  float t[kLanes] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int j = 0; j < count; ++j) t[j] = p[j];
  return vld1q_f32(t);
}
inline void storeFirst(float* p, float32x4_t v, int count) {
  float t[kLanes];
  vst1q_f32(t, v);
  for (int j = 0; j < count; ++j) p[j] = t[j];
}

// The M (1..8) values of one k step of a k-major A operand, in two q registers. Reads exactly M
// floats: an edge tile of op(A) read in place ends at the matrix.
template <int M>
inline void loadAColumn(const float* a, float32x4_t (&av)[2]) {
  av[0] = M >= 4 ? vld1q_f32(a) : loadFirst(a, M);
  av[1] = M >= 8 ? vld1q_f32(a + 4) : (M > 4 ? loadFirst(a + 4, M - 4) : vdupq_n_f32(0.0f));
}

// acc[I][v] += av[I / 4][I % 4] * bv[v]: the lane must be a compile-time constant.
template <int I, int NV>
inline void fmaRowByLane(float32x4_t (&accRow)[NV], const float32x4_t (&bv)[NV],
                         const float32x4_t (&av)[2]) {
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) accRow[v] = vfmaq_laneq_f32(accRow[v], bv[v], av[I / 4], I % 4);
}
template <int NV, std::size_t... I>
inline void fmaRowsByLane(float32x4_t (&acc)[sizeof...(I)][NV], const float32x4_t (&bv)[NV],
                          const float32x4_t (&av)[2], std::index_sequence<I...>) {
  (fmaRowByLane<static_cast<int>(I), NV>(acc[I], bv, av), ...);
}

// One register tile of M rows (1..kMr) and NV vectors (1..3) of 4 columns. kPartialLast: the last
// vector holds lastCount < 4 columns; its B loads and C accesses go through a small buffer so they
// never touch the columns past n.
template <int M, int NV, bool kRowMajorA, bool kPartialLast>
void tileNeon(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride, float* c,
              int64_t ldc, int lastCount, bool accumulate) {
  float32x4_t acc[M][NV];
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = vdupq_n_f32(0.0f);
  }
  for (int64_t p = 0; p < k; ++p) {
    float32x4_t bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      bv[v] = (kPartialLast && v == NV - 1) ? loadFirst(b + v * kLanes, lastCount)
                                            : vld1q_f32(b + v * kLanes);
    }
    if (kRowMajorA) {
#pragma GCC unroll 8
      for (int i = 0; i < M; ++i) {
        const float ai = a[i * aStride];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[i][v] = vfmaq_n_f32(acc[i][v], bv[v], ai);
      }
      a += 1;
    } else {
      float32x4_t av[2];
      loadAColumn<M>(a, av);
      fmaRowsByLane<NV>(acc, bv, av, std::make_index_sequence<M>{});
      a += aStride;
    }
    b += bStride;
  }
#pragma GCC unroll 8
  for (int i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float32x4_t r = acc[i][v];
      if (kPartialLast && v == NV - 1) {
        if (accumulate) r = vaddq_f32(r, loadFirst(ci + v * kLanes, lastCount));
        storeFirst(ci + v * kLanes, r, lastCount);
      } else {
        if (accumulate) r = vaddq_f32(r, vld1q_f32(ci + v * kLanes));
        vst1q_f32(ci + v * kLanes, r);
      }
    }
  }
}

using TileImpl = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                          int, bool);

// TileTable::kTiles[vectors - 1][partial][rows - 1]
template <bool kRowMajorA, int NV, bool kPartial, std::size_t... I>
constexpr std::array<TileImpl, sizeof...(I)> tilesByRows(std::index_sequence<I...>) {
  return {{&tileNeon<static_cast<int>(I) + 1, NV, kRowMajorA, kPartial>...}};
}
template <bool kRowMajorA>
struct TileTable {
  using Rows = std::make_index_sequence<kMr>;
  static constexpr std::array<TileImpl, kMr> kTiles[3][2] = {
      {tilesByRows<kRowMajorA, 1, false>(Rows{}), tilesByRows<kRowMajorA, 1, true>(Rows{})},
      {tilesByRows<kRowMajorA, 2, false>(Rows{}), tilesByRows<kRowMajorA, 2, true>(Rows{})},
      {tilesByRows<kRowMajorA, 3, false>(Rows{}), tilesByRows<kRowMajorA, 3, true>(Rows{})},
  };
};

template <bool kRowMajorA>
void tileEntryNeon(int64_t k, const float* a, int64_t aStride, const float* b, int64_t bStride,
                   float* c, int64_t ldc, int m, int n, bool accumulate) {
  const int vectors = (n + kLanes - 1) / kLanes;
  const int tail = n % kLanes;
  TileTable<kRowMajorA>::kTiles[vectors - 1][tail != 0][m - 1](k, a, aStride, b, bStride, c, ldc,
                                                                tail, accumulate);
}

}  // namespace

const MatmulKernels* matmulKernelsNeon() {
  static const MatmulKernels kernels{
      "neon",           kMr, kNr, &tileEntryNeon<false>, &tileEntryNeon<true>,
      &packAPanels<kMr>, &packBPanels<kNr>, nullptr};
  return &kernels;
}

}  // namespace sa

#else
namespace sa {
const MatmulKernels* matmulKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
