// The bfloat16 GEMM of the avx512bf16 tier (and, until it has its own tile kernel, the amx tier):
// vdpbf16ps multiplies 16 pairs of bfloat16 and adds both products to 16 float32 lanes, twice the
// multiply-adds of a float32 FMA. Register tile: 14 rows x 32 columns, 28 accumulators + 2 B
// vectors + 1 A broadcast of 32 zmm, as in the float32 AVX-512 kernel.
// Packing rounds to bfloat16 with vcvtne2ps2bf16 / vcvtneps2bf16 (nearest even, NaN kept; like
// vdpbf16ps itself they treat denormal inputs as zero).
#include <algorithm>
#include <cstdint>

#include "kernels/matmul_bf16_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"
#include "kernels/common/unroll.h"

SA_TARGET_AVX512BF16_BEGIN
#include "kernels/common/vec_avx512.h"

namespace sa {
namespace {

constexpr int kMr = 14, kNr = 32;

__mmask16 lanes(int64_t n) { return static_cast<__mmask16>((1u << std::clamp<int64_t>(n, 0, 16)) - 1u); }

// Lines contiguous along K (rows of op(A) without transA, columns of op(B) with transB): line l
// becomes column l of the panel. load(line, k0) gives the 16 pairs of a line from depth k0 (zero past
// k); 16 lines x 16 pairs go through one 16 x 16 transpose. Lines from `lines` to `width` are zero.
template <class LoadPairs>
void transposeLinesAlongK(int64_t lines, int width, int64_t k, uint32_t* out, const LoadPairs& load) {
  const int64_t pairs = (k + 1) / 2;
  for (int l0 = 0; l0 < width; l0 += 16) {
    const int64_t rows = std::clamp<int64_t>(lines - l0, 0, 16);
    const __mmask16 store = lanes(width - l0);
    for (int64_t q = 0; q < pairs; q += 16) {
      __m512 block[16];
      for (int l = 0; l < 16; ++l) block[l] = l < rows ? load(l0 + l, 2 * q) : _mm512_setzero_ps();
      VecAvx512::transpose(block);
      const int64_t count = std::min<int64_t>(16, pairs - q);
      for (int64_t t = 0; t < count; ++t) {
        _mm512_mask_storeu_epi32(out + (q + t) * width + l0, store, _mm512_castps_si512(block[t]));
      }
    }
  }
}

// Float32 lines: 32 floats round to 16 pairs in one vcvtne2ps2bf16.
void packLinesAlongK(const float* src, int64_t ld, int64_t lines, int width, int64_t k, uint32_t* out) {
  transposeLinesAlongK(lines, width, k, out, [&](int64_t line, int64_t k0) {
    const float* p = src + line * ld + k0;
    const __m512bh rounded =
        _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(lanes(k - k0 - 16), p + 16), _mm512_maskz_loadu_ps(lanes(k - k0), p));
    return (__m512)rounded;
  });
}

// Lines strided, K rows contiguous across them (op(A) with transA, op(B) without transB, and
// prepacked float32 panels): rows 2q and 2q + 1 interleave into the panel's pair row q.
void packRowsAcrossLines(const float* src, int64_t ld, int64_t lines, int width, int64_t k, uint32_t* out) {
  const int64_t pairs = (k + 1) / 2;
  for (int64_t q = 0; q < pairs; ++q) {
    const float* even = src + 2 * q * ld;
    const bool hasOdd = 2 * q + 1 < k;
    for (int v = 0; v < width; v += 16) {
      const __mmask16 valid = lanes(lines - v);
      const __m512 lo = _mm512_maskz_loadu_ps(valid, even + v);
      const __m512 hi = hasOdd ? _mm512_maskz_loadu_ps(valid, even + ld + v) : _mm512_setzero_ps();
      const __m512i lo32 = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
      const __m512i hi32 = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
      _mm512_mask_storeu_epi32(out + q * width + v, lanes(width - v),
                               _mm512_or_si512(lo32, _mm512_slli_epi32(hi32, 16)));
    }
  }
}

void packA(const float* a, int64_t lda, bool transA, int64_t m, int64_t k, uint32_t* out) {
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

void packB(const float* b, int64_t ldb, bool transB, int64_t k, int64_t n, uint32_t* out, int64_t panelStride) {
  for (int64_t r = 0; r * kNr < n; ++r) {
    const int64_t cols = std::min<int64_t>(kNr, n - r * kNr);
    if (transB) {
      packLinesAlongK(b + r * kNr * ldb, ldb, cols, kNr, k, out + r * panelStride);
    } else {
      packRowsAcrossLines(b + r * kNr, ldb, cols, kNr, k, out + r * panelStride);
    }
  }
}

// Bfloat16 lines: two bfloat16 adjacent along K already are one pair, so 16 pairs of a line are one
// 32-bit load (the odd K tail masked to its low half).
void packLinesAlongKFromBf16(const uint16_t* src, int64_t ld, int64_t lines, int width, int64_t k, uint32_t* out) {
  transposeLinesAlongK(lines, width, k, out, [&](int64_t line, int64_t k0) {
    const int64_t halves = std::clamp<int64_t>(k - k0, 0, 32);
    const __mmask32 valid = static_cast<__mmask32>(halves >= 32 ? ~0u : (1u << halves) - 1u);
    return _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(valid, src + line * ld + k0));
  });
}

// packRowsAcrossLines for bfloat16 rows: rows 2q and 2q + 1 widened to 32 bits and interleaved.
void packRowsAcrossLinesFromBf16(const uint16_t* src, int64_t ld, int64_t lines, int width, int64_t k, uint32_t* out) {
  const int64_t pairs = (k + 1) / 2;
  for (int64_t q = 0; q < pairs; ++q) {
    const uint16_t* even = src + 2 * q * ld;
    const bool hasOdd = 2 * q + 1 < k;
    for (int v = 0; v < width; v += 16) {
      const __mmask16 valid = lanes(lines - v);
      const __m512i lo32 = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, even + v));
      const __m512i hi32 =
          hasOdd ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, even + ld + v)) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(out + q * width + v, lanes(width - v),
                               _mm512_or_si512(lo32, _mm512_slli_epi32(hi32, 16)));
    }
  }
}

void packAFromBf16(const uint16_t* a, int64_t lda, bool transA, int64_t m, int64_t k, uint32_t* out) {
  const int64_t panelPairs = (k + 1) / 2 * kMr;
  for (int64_t r = 0; r * kMr < m; ++r) {
    const int64_t rows = std::min<int64_t>(kMr, m - r * kMr);
    if (transA) {
      packRowsAcrossLinesFromBf16(a + r * kMr, lda, rows, kMr, k, out + r * panelPairs);
    } else {
      packLinesAlongKFromBf16(a + r * kMr * lda, lda, rows, kMr, k, out + r * panelPairs);
    }
  }
}

void packBFromBf16(const uint16_t* b, int64_t ldb, bool transB, int64_t k, int64_t n, uint32_t* out,
                   int64_t panelStride) {
  for (int64_t r = 0; r * kNr < n; ++r) {
    const int64_t cols = std::min<int64_t>(kNr, n - r * kNr);
    if (transB) {
      packLinesAlongKFromBf16(b + r * kNr * ldb, ldb, cols, kNr, k, out + r * panelStride);
    } else {
      packRowsAcrossLinesFromBf16(b + r * kNr, ldb, cols, kNr, k, out + r * panelStride);
    }
  }
}

// One register tile of M rows. kRowMajorA: A is a bfloat16 matrix read in place, row i's pairs at
// a + i * aStride (a pair is one 32-bit word of a row-major row); else a packed panel (stride kMr).
template <int M, bool kRowMajorA>
void tileOf(int64_t kPairs, const uint32_t* a, int64_t aStride, const uint32_t* b, float* c, int64_t ldc, int n,
            bool accumulate, const float* bias) {
  __m512 acc[M][2];
  SA_UNROLL_FULL
  for (int i = 0; i < M; ++i) {
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    // The C tile is touched only at the end: fetch it now so the epilogue does not wait on it.
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }
  for (int64_t q = 0; q < kPairs; ++q, a += kRowMajorA ? 1 : kMr, b += kNr) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * kNr), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * kNr + 16), _MM_HINT_T0);
    SA_UNROLL_FULL
    for (int i = 0; i < M; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[kRowMajorA ? i * aStride : i]));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
    }
  }
  const __mmask16 mask[2] = {lanes(n), lanes(n - 16)};
  SA_UNROLL_FULL
  for (int i = 0; i < M; ++i) {
    float* row = c + i * ldc;
    SA_UNROLL_FULL
    for (int v = 0; v < 2; ++v) {
      __m512 sum = acc[i][v];
      if (accumulate) sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], row + 16 * v), sum);
      if (bias != nullptr) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask[v], bias + 16 * v));
      _mm512_mask_storeu_ps(row + 16 * v, mask[v], sum);
    }
  }
}

template <int M>
void tile(int64_t kPairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int, int n, bool accumulate,
          const float* bias) {
  tileOf<M, false>(kPairs, a, kMr, b, c, ldc, n, accumulate, bias);
}

template <int M>
void tileRowMajor(int64_t kPairs, const uint32_t* a, int64_t aStride, const uint32_t* b, float* c, int64_t ldc, int,
                  int n, bool accumulate, const float* bias) {
  tileOf<M, true>(kPairs, a, aStride, b, c, ldc, n, accumulate, bias);
}

template <int... Ms>
struct TileTable {
  static constexpr MatmulBf16TileFn fns[sizeof...(Ms)] = {&tile<Ms + 1>...};
  static constexpr MatmulBf16RowMajorTileFn rowMajorFns[sizeof...(Ms)] = {&tileRowMajor<Ms + 1>...};
};
using Tiles = TileTable<0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13>;

void tileAnyRows(int64_t kPairs, const uint32_t* a, const uint32_t* b, float* c, int64_t ldc, int m, int n,
                 bool accumulate, const float* bias) {
  Tiles::fns[m - 1](kPairs, a, b, c, ldc, m, n, accumulate, bias);
}

void tileAnyRowsRowMajor(int64_t kPairs, const uint32_t* a, int64_t aStride, const uint32_t* b, float* c, int64_t ldc,
                         int m, int n, bool accumulate, const float* bias) {
  Tiles::rowMajorFns[m - 1](kPairs, a, aStride, b, c, ldc, m, n, accumulate, bias);
}

}  // namespace
}  // namespace sa
SA_TARGET_END

namespace sa {
// Outside the target region: dispatch calls this on every CPU, AVX512_BF16 or not.
const MatmulBf16Kernels* matmulBf16KernelsAvx512() {
  static constexpr MatmulBf16Kernels kKernels{"avx512bf16", kMr,           kNr,           tileAnyRows,        packA,
                                              packB,        packAFromBf16, packBFromBf16, tileAnyRowsRowMajor};
  return &kKernels;
}
}  // namespace sa

#else
namespace sa {
const MatmulBf16Kernels* matmulBf16KernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
