// AVX-512 matmul: the vector traits of the shared micro-kernel and packing
// (kernels/common/matmul_tile-inl.h). Register tiles of up to 14 rows x 32 columns (two zmm of 16).
//
// Register budget (32 zmm): 28 accumulators + 2 B vectors + 1-2 A broadcasts. Each k step loads
// 2 B vectors and broadcasts up to 14 A scalars for 28 FMAs; 28 independent accumulators cover the
// 4-cycle FMA latency on two FMA pipes (8 chains needed) with margin. The full 14-row tile runs on
// packed A panels; A read in place uses tiles of at most 8 rows (kInPlaceMaxRows in
// matmul_driver.cc), 16 accumulators, which Zen 4's one zmm FMA per cycle still saturates.
// 32 columns rather than 48 or 64 divide the head widths of attention (64, 128) evenly.
//
// Packing: the transposing cases (B with transB; A without transA, packed when K is long) go
// through 16 x 16 in-register transposes; row-major B is copied a few rows at a time across all
// panels (one stream per source row, which the prefetcher follows).
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
#include "kernels/common/matmul_tile-inl.h"

namespace sa {
namespace {

struct Avx512Matmul {
  using F = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static constexpr int kMr = 14;
  static constexpr int kNr = 32;
  static constexpr bool kPrefetchC = true;
  // B 8 k steps ahead: 130-230 cycles at 16-28 FMAs per step, which covers an L3 hit.
  static constexpr int64_t kPrefetchBSteps = 8;
  static constexpr bool kFmaByLane = false;
  static constexpr bool kTransposeInRegisters = true;
  static constexpr bool kPackRowsAcrossPanels = true;

  static F zero() { return _mm512_setzero_ps(); }
  static F loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F bcast(const float* p) { return _mm512_set1_ps(*p); }
  static Mask firstLanes(int count) {
    return static_cast<Mask>(count >= kLanes ? 0xFFFF : (1u << count) - 1);
  }
  static F loadFirst(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void storeFirst(float* p, Mask m, F v) { _mm512_mask_storeu_ps(p, m, v); }
  static void prefetch(const float* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

  // r[i][j] becomes r[j][i]. 64 shuffles for 256 floats: pairs of rows interleaved (unpack ps),
  // then pairs of pairs (unpack pd), then the 128-bit lanes of four rows (two rounds of
  // shuffle_f32x4).
  static void transpose(F (&r)[16]) {
    F t[16];
    SA_UNROLL_FULL
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // s[q][c]: rows 4q..4q+3, column 4L + c in 128-bit lane L.
    F s[4][4];
    SA_UNROLL_FULL
    for (int q = 0; q < 4; ++q) {
      const __m512d lo0 = _mm512_castps_pd(t[4 * q]), hi0 = _mm512_castps_pd(t[4 * q + 1]);
      const __m512d lo1 = _mm512_castps_pd(t[4 * q + 2]), hi1 = _mm512_castps_pd(t[4 * q + 3]);
      s[q][0] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
      s[q][1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
      s[q][2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
      s[q][3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
    }
    // Column 4L + c gathers lane L of s[0..3][c].
    SA_UNROLL_FULL
    for (int c = 0; c < 4; ++c) {
      const F x0 = _mm512_shuffle_f32x4(s[0][c], s[1][c], _MM_SHUFFLE(1, 0, 1, 0));
      const F x1 = _mm512_shuffle_f32x4(s[0][c], s[1][c], _MM_SHUFFLE(3, 2, 3, 2));
      const F x2 = _mm512_shuffle_f32x4(s[2][c], s[3][c], _MM_SHUFFLE(1, 0, 1, 0));
      const F x3 = _mm512_shuffle_f32x4(s[2][c], s[3][c], _MM_SHUFFLE(3, 2, 3, 2));
      r[c] = _mm512_shuffle_f32x4(x0, x2, _MM_SHUFFLE(2, 0, 2, 0));
      r[4 + c] = _mm512_shuffle_f32x4(x0, x2, _MM_SHUFFLE(3, 1, 3, 1));
      r[8 + c] = _mm512_shuffle_f32x4(x1, x3, _MM_SHUFFLE(2, 0, 2, 0));
      r[12 + c] = _mm512_shuffle_f32x4(x1, x3, _MM_SHUFFLE(3, 1, 3, 1));
    }
  }
};

}  // namespace
}  // namespace sa
SA_TARGET_END

namespace sa {
// Outside the target region: dispatch calls this on every CPU, AVX-512 or not.
const MatmulKernels* matmulKernelsAvx512() {
  static constexpr MatmulKernels kKernels = matmulKernelsOf<Avx512Matmul>("avx512");
  return &kKernels;
}
}  // namespace sa

#else
namespace sa {
const MatmulKernels* matmulKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
