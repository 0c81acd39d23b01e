// The bfloat16 GEMM of the neonbf16 tier (arm64 with FEAT_BF16): BFDOT by element
// (vbfdotq_laneq_f32) multiplies one A pair, broadcast from a lane, by four B pairs and adds both
// products of each pair to four float32 lanes. The packed pair panels of matmul_bf16_kernels.h feed
// it as they are: a q register of B is four columns' pairs, one of A four rows' pairs.
// Register tile: 8 rows x 12 columns (the float32 NEON tile, so prepacked float32 panels of width
// 12 serve it): 24 accumulators + 3 B vectors + 2 A vectors of 32 q registers.
// Compiled where the compiler allows BF16 intrinsics in a target region (GCC) or globally
// (SA_NEON_BF16, kernels/common/target.h); elsewhere there is no neonbf16 tier.
// Packing rounds to bfloat16 by integer arithmetic on the float32 bits (nearest even, NaN kept
// quiet), as convert_neon.cc does; BFDOT itself rounds to odd and flushes denormals (FPCR.EBF = 0).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/common/target.h"
#include "kernels/matmul_bf16_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64 && SA_NEON_BF16
#include <arm_neon.h>

#include "kernels/common/unroll.h"
#include "kernels/neon/matmul_tile_store_neon-inl.h"

SA_TARGET_NEON_BF16_BEGIN

namespace sa {
namespace {

constexpr int kMr = 8, kNr = 12;

uint32_t bf16Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if (x != x) return (bits | 0x00400000u) >> 16;
  return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
}
uint32_t bf16Bits(uint16_t h) { return h; }

// Four floats to four bfloat16 bit patterns (the rounding of bf16Bits).
uint16x4_t roundToBf16(float32x4_t v) {
  const uint32x4_t x = vreinterpretq_u32_f32(v);
  const uint32x4_t lsb = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
  const uint32x4_t rounded = vaddq_u32(x, vaddq_u32(lsb, vdupq_n_u32(0x7FFF)));
  const uint32x4_t quiet = vorrq_u32(x, vdupq_n_u32(0x00400000));
  return vshrn_n_u32(vbslq_u32(vceqq_f32(v, v), rounded, quiet), 16);
}
uint16x4_t load4Bf16(const float* p) { return roundToBf16(vld1q_f32(p)); }
uint16x4_t load4Bf16(const uint16_t* p) { return vld1_u16(p); }

// Lines contiguous along K (rows of op(A) without transA, columns of op(B) with transB): elements
// 2q and 2q + 1 of line l become pair (q, l) of the panel. Lines from `lines` to `width` are zero.
template <class T>
void packLinesAlongK(const T* src, int64_t ld, int64_t lines, int width, int64_t k, uint32_t* out) {
  const int64_t pairs = (k + 1) / 2, fullPairs = k / 2;
  for (int l = 0; l < width; ++l) {
    uint32_t* column = out + l;
    if (l >= lines) {
      for (int64_t q = 0; q < pairs; ++q) column[q * width] = 0;
      continue;
    }
    const T* line = src + l * ld;
    for (int64_t q = 0; q < fullPairs; ++q) {
      column[q * width] = bf16Bits(line[2 * q]) | bf16Bits(line[2 * q + 1]) << 16;
    }
    if (pairs > fullPairs) column[fullPairs * width] = bf16Bits(line[2 * fullPairs]);
  }
}

// Lines strided, K rows contiguous across them (op(A) with transA, op(B) without transB, and
// prepacked float32 panels): rows 2q and 2q + 1 interleave into the panel's pair row q, four lines
// a step.
template <class T>
void packRowsAcrossLines(const T* src, int64_t ld, int64_t lines, int width, int64_t k, uint32_t* out) {
  const int64_t pairs = (k + 1) / 2;
  for (int64_t q = 0; q < pairs; ++q) {
    const T* even = src + 2 * q * ld;
    const T* odd = 2 * q + 1 < k ? even + ld : nullptr;
    uint32_t* row = out + q * width;
    int l = 0;
    for (; l + 4 <= lines && l + 4 <= width; l += 4) {
      const uint16x4_t lo = load4Bf16(even + l);
      const uint16x4_t hi = odd != nullptr ? load4Bf16(odd + l) : vdup_n_u16(0);
      vst1q_u16(reinterpret_cast<uint16_t*>(row + l), vcombine_u16(vzip1_u16(lo, hi), vzip2_u16(lo, hi)));
    }
    for (; l < width; ++l) {
      row[l] = l < lines ? bf16Bits(even[l]) | (odd != nullptr ? bf16Bits(odd[l]) << 16 : 0u) : 0u;
    }
  }
}

template <class T>
void packAOf(const T* a, int64_t lda, bool transA, int64_t m, int64_t k, uint32_t* out) {
  const int64_t panelPairs = (k + 1) / 2 * kMr;
  for (int64_t r = 0; r * kMr < m; ++r) {
    const int64_t rows = std::min<int64_t>(kMr, m - r * kMr);
    if (transA) {
      packRowsAcrossLines(a + r * kMr, lda, rows, kMr, k, out + r * panelPairs);
    } else {
      packLinesAlongK(a + r * kMr * lda, lda, rows, kMr, k, out + r * panelPairs);
    }
  }
}

template <class T>
void packBOf(const T* b, int64_t ldb, bool transB, int64_t k, int64_t n, uint32_t* out, int64_t panelStride) {
  for (int64_t r = 0; r * kNr < n; ++r) {
    const int64_t cols = std::min<int64_t>(kNr, n - r * kNr);
    if (transB) {
      packLinesAlongK(b + r * kNr * ldb, ldb, cols, kNr, k, out + r * panelStride);
    } else {
      packRowsAcrossLines(b + r * kNr, ldb, cols, kNr, k, out + r * panelStride);
    }
  }
}

void packA(const float* a, int64_t lda, bool transA, int64_t m, int64_t k, uint32_t* out) {
  packAOf(a, lda, transA, m, k, out);
}
void packB(const float* b, int64_t ldb, bool transB, int64_t k, int64_t n, uint32_t* out, int64_t panelStride) {
  packBOf(b, ldb, transB, k, n, out, panelStride);
}
void packAFromBf16(const uint16_t* a, int64_t lda, bool transA, int64_t m, int64_t k, uint32_t* out) {
  packAOf(a, lda, transA, m, k, out);
}
void packBFromBf16(const uint16_t* b, int64_t ldb, bool transB, int64_t k, int64_t n, uint32_t* out,
                   int64_t panelStride) {
  packBOf(b, ldb, transB, k, n, out, panelStride);
}

// acc + the dot products of b's four pairs with a's pair `Lane` (BFDOT by element).
template <int Lane>
float32x4_t bfdotLane(float32x4_t acc, uint32x4_t b, uint32x4_t a) {
  return vbfdotq_laneq_f32(acc, vreinterpretq_bf16_u32(b), vreinterpretq_bf16_u32(a), Lane);
}

// acc[Row][v] += pairs of A row Row . pairs of B columns 4v..4v+3: the lane must be a constant.
template <int Row>
void dotRow(float32x4_t (&accRow)[3], const uint32x4_t (&bv)[3], const uint32x4_t (&av)[2]) {
  SA_UNROLL_FULL
  for (int v = 0; v < 3; ++v) accRow[v] = bfdotLane<Row % 4>(accRow[v], bv[v], av[Row / 4]);
}
template <int M, std::size_t... Row>
void dotRows(float32x4_t (&acc)[M][3], const uint32x4_t (&bv)[3], const uint32x4_t (&av)[2],
             std::index_sequence<Row...>) {
  (dotRow<static_cast<int>(Row)>(acc[Row], bv, av), ...);
}

template <int M>
void tile(int64_t kPairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int, int n, bool accumulate,
          const float* bias) {
  float32x4_t acc[M][3];
  SA_UNROLL_FULL
  for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = acc[i][2] = vdupq_n_f32(0.0f);
  for (int64_t q = 0; q < kPairs; ++q, a += kMr, b += kNr) {
    // A panels are kMr pairs wide whatever M is (rows past m are zero), so both loads stay inside.
    const uint32x4_t bv[3] = {vld1q_u32(b), vld1q_u32(b + 4), vld1q_u32(b + 8)};
    const uint32x4_t av[2] = {vld1q_u32(a), vld1q_u32(a + 4)};
    dotRows<M>(acc, bv, av, std::make_index_sequence<M>{});
  }
  storeTileRows<M>(acc, c, ldc, n, accumulate, bias);
}

template <int... Ms>
struct TileTable {
  static constexpr MatmulBf16TileFn fns[sizeof...(Ms)] = {&tile<Ms + 1>...};
};

void tileAnyRows(int64_t kPairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m, int n,
                 bool accumulate, const float* bias) {
  using Table = TileTable<0, 1, 2, 3, 4, 5, 6, 7>;
  Table::fns[m - 1](kPairs, a, b, c, ldc, m, n, accumulate, bias);
}

}  // namespace
}  // namespace sa
SA_TARGET_NEON_BF16_END

namespace sa {
// Outside the target region: dispatch calls this on every arm64 CPU, BF16 or not.
const MatmulBf16Kernels* matmulBf16KernelsNeon() {
  static constexpr MatmulBf16Kernels kKernels{"neonbf16", kMr,   kNr,           tileAnyRows,
                                              packA,      packB, packAFromBf16, packBFromBf16};
  return &kKernels;
}
}  // namespace sa

#else
namespace sa {
const MatmulBf16Kernels* matmulBf16KernelsNeon() { return nullptr; }
}  // namespace sa
#endif
