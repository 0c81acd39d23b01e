// The float16 GEMM on arm64 with FEAT_FHM: FMLAL / FMLAL2 by element (vfmlalq_laneq_low_f16 /
// vfmlalq_laneq_high_f16) multiply four float16 of B by one float16 of A, broadcast from a lane, and
// add the products to four float32 lanes without rounding them to float16 (never a float16 sum).
// Panels as matmul_f16_kernels.h lays them out: per pair, A is two q registers (8 rows at depth 2q,
// then at 2q + 1) and B three (12 columns at depth 2q, then 12 at 2q + 1), so the halves each FMLAL
// reads are already in place. Register tile 8 x 12, as the bf16 tile: 24 accumulators + 5 operands.
// Compiled in a GCC target region (or with a global +fp16fml under Clang, kernels/common/target.h).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/common/target.h"
#include "kernels/matmul_f16_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64 && SA_NEON_FHM
#include <arm_neon.h>

#include "kernels/common/unroll.h"
#include "kernels/neon/matmul_tile_store_neon-inl.h"

SA_TARGET_NEON_FHM_BEGIN

namespace sa {
namespace {

constexpr int kMr = 8, kNr = 12;

// `lines` lines of depth k, element (d, l) at src[d * depthStride + l * lineStride], into `width`
// float16 per depth: out[d * width + l]; lines past `lines` and the depth past an odd k are zero.
void packLines(const uint16_t* src, int64_t depthStride, int64_t lineStride, int64_t lines, int width, int64_t k,
               uint16_t* out) {
  const int64_t depths = (k + 1) / 2 * 2;
  for (int64_t d = 0; d < depths; ++d) {
    uint16_t* row = out + d * width;
    if (d >= k) {
      std::memset(row, 0, sizeof(uint16_t) * width);
      continue;
    }
    const uint16_t* from = src + d * depthStride;
    if (lineStride == 1) {
      std::memcpy(row, from, sizeof(uint16_t) * lines);
    } else {
      for (int64_t l = 0; l < lines; ++l) row[l] = from[l * lineStride];
    }
    std::memset(row + lines, 0, sizeof(uint16_t) * (width - lines));
  }
}

void packA(const uint16_t* a, int64_t lda, bool transA, int64_t m, int64_t k, uint32_t* out) {
  const int64_t panelPairs = (k + 1) / 2 * kMr;
  for (int64_t r = 0; r * kMr < m; ++r) {
    const int64_t rows = std::min<int64_t>(kMr, m - r * kMr);
    uint16_t* panel = reinterpret_cast<uint16_t*>(out + r * panelPairs);
    if (transA) {
      packLines(a + r * kMr, lda, 1, rows, kMr, k, panel);
    } else {
      packLines(a + r * kMr * lda, 1, lda, rows, kMr, k, panel);
    }
  }
}

void packB(const uint16_t* b, int64_t ldb, bool transB, int64_t k, int64_t n, uint32_t* out, int64_t panelStride) {
  for (int64_t r = 0; r * kNr < n; ++r) {
    const int64_t cols = std::min<int64_t>(kNr, n - r * kNr);
    uint16_t* panel = reinterpret_cast<uint16_t*>(out + r * panelStride);
    if (transB) {
      packLines(b + r * kNr * ldb, 1, ldb, cols, kNr, k, panel);
    } else {
      packLines(b + r * kNr, ldb, 1, cols, kNr, k, panel);
    }
  }
}

// Row `Row` of the tile over one pair: b[0] = columns 0-7 at the even depth, b[1] = 8-11 even then
// 0-3 odd, b[2] = 4-11 odd; aEven / aOdd hold the 8 rows at either depth.
template <int Row>
void fmlalRow(float32x4_t (&acc)[3], const float16x8_t (&b)[3], float16x8_t aEven, float16x8_t aOdd) {
  acc[0] = vfmlalq_laneq_low_f16(acc[0], b[0], aEven, Row);
  acc[1] = vfmlalq_laneq_high_f16(acc[1], b[0], aEven, Row);
  acc[2] = vfmlalq_laneq_low_f16(acc[2], b[1], aEven, Row);
  acc[0] = vfmlalq_laneq_high_f16(acc[0], b[1], aOdd, Row);
  acc[1] = vfmlalq_laneq_low_f16(acc[1], b[2], aOdd, Row);
  acc[2] = vfmlalq_laneq_high_f16(acc[2], b[2], aOdd, Row);
}
template <int M, std::size_t... Row>
void fmlalRows(float32x4_t (&acc)[M][3], const float16x8_t (&b)[3], float16x8_t aEven, float16x8_t aOdd,
               std::index_sequence<Row...>) {
  (fmlalRow<static_cast<int>(Row)>(acc[Row], b, aEven, aOdd), ...);
}

float16x8_t load8(const uint16_t* p) { return vreinterpretq_f16_u16(vld1q_u16(p)); }

template <int M>
void tile(int64_t kPairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int, int n, bool accumulate,
          const float* bias) {
  const uint16_t* a16 = reinterpret_cast<const uint16_t*>(a);
  const uint16_t* b16 = reinterpret_cast<const uint16_t*>(b);
  float32x4_t acc[M][3];
  SA_UNROLL_FULL
  for (int i = 0; i < M; ++i) acc[i][0] = acc[i][1] = acc[i][2] = vdupq_n_f32(0.0f);
  for (int64_t q = 0; q < kPairs; ++q, a16 += 2 * kMr, b16 += 2 * kNr) {
    // A panels are kMr rows wide whatever M is (rows past m are zero), so both loads stay inside.
    const float16x8_t bv[3] = {load8(b16), load8(b16 + 8), load8(b16 + 16)};
    fmlalRows<M>(acc, bv, load8(a16), load8(a16 + kMr), std::make_index_sequence<M>{});
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
SA_TARGET_NEON_FHM_END

namespace sa {
// Outside the target region: dispatch calls this on every arm64 CPU, FHM or not.
const MatmulF16Kernels* matmulF16KernelsNeon() {
  static constexpr MatmulF16Kernels kKernels{"neonfhm", kMr, kNr, tileAnyRows, packA, packB};
  return &kKernels;
}
}  // namespace sa

#else
namespace sa {
const MatmulF16Kernels* matmulF16KernelsNeon() { return nullptr; }
}  // namespace sa
#endif
