// AVX2 + FMA matmul: the vector traits of the shared micro-kernel and packing
// (kernels/common/matmul_tile-inl.h). A 6 x 16 register tile (6 rows x two ymm of 8 columns).
//
// Register budget (16 ymm): 12 accumulators + 2 B vectors + 1 A broadcast = 15. Each k step loads
// 2 B vectors and broadcasts 6 A scalars for 12 FMAs: 8 loads per 12 FMAs fits two load ports
// feeding two FMA pipes, and 12 independent accumulators cover the 4-5 cycle FMA latency on two
// pipes (8-10 needed). 6 rows is also within the driver's limit for A read in place (8).
//
// Packing: the transposing cases go through 8 x 8 in-register transposes; the others are row
// copies (matmul_packing.h). Masked loads and stores (vmaskmovps) are slow on AMD, so only edge
// tiles and edge panels use them.
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
#include "kernels/common/matmul_tile-inl.h"

namespace sa {
namespace {

struct Avx2Matmul {
  using F = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kMr = 6;
  static constexpr int kNr = 16;
  static constexpr bool kPrefetchC = true;
  static constexpr int64_t kPrefetchBSteps = 0;
  static constexpr bool kFmaByLane = false;
  static constexpr bool kTransposeInRegisters = true;
  static constexpr bool kPackRowsAcrossPanels = false;

  static F zero() { return _mm256_setzero_ps(); }
  static F loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Mask firstLanes(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static F loadFirst(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void storeFirst(float* p, Mask m, F v) { _mm256_maskstore_ps(p, m, v); }
  static void prefetch(const float* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }

  // r[i][j] becomes r[j][i] (24 shuffles for 64 floats).
  static void transpose(F (&r)[8]) {
    F t[8], u[8];
    SA_UNROLL_FULL
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    // u[4h + c]: rows 4h..4h+3, column 4L + c in 128-bit lane L.
    SA_UNROLL_FULL
    for (int h = 0; h < 2; ++h) {
      const __m256d lo0 = _mm256_castps_pd(t[4 * h]), hi0 = _mm256_castps_pd(t[4 * h + 1]);
      const __m256d lo1 = _mm256_castps_pd(t[4 * h + 2]), hi1 = _mm256_castps_pd(t[4 * h + 3]);
      u[4 * h + 0] = _mm256_castpd_ps(_mm256_unpacklo_pd(lo0, lo1));
      u[4 * h + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(lo0, lo1));
      u[4 * h + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(hi0, hi1));
      u[4 * h + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(hi0, hi1));
    }
    SA_UNROLL_FULL
    for (int c = 0; c < 4; ++c) {
      r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);      // lane 0 of both: column c
      r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);  // lane 1 of both: column 4 + c
    }
  }
};

}  // namespace
}  // namespace sa
SA_TARGET_END

namespace sa {
// Outside the target region: dispatch calls this on every CPU, AVX2 or not.
const MatmulKernels* matmulKernelsAvx2() {
  static constexpr MatmulKernels kKernels = matmulKernelsOf<Avx2Matmul>("avx2");
  return &kKernels;
}
}  // namespace sa

#else
namespace sa {
const MatmulKernels* matmulKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
