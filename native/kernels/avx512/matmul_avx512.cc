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
#include "kernels/common/vec_avx512.h"
#include "kernels/common/matmul_tile-inl.h"

namespace sa {
namespace {

// The vector operations are VecAvx512's; this adds the tile shape and the matmul's choices.
struct Avx512Matmul : VecAvx512 {
  static constexpr int kMr = 14, kNr = 32;  // the register tile: rows x columns
  static constexpr bool kPrefetchC = true;
  // B 8 k steps ahead: 130-230 cycles at 16-28 FMAs per step, which covers an L3 hit.
  static constexpr int64_t kPrefetchBSteps = 8;
  static constexpr bool kFmaByLane = false;
  static constexpr bool kTransposeInRegisters = true;
  static constexpr bool kPackRowsAcrossPanels = true;

  static void prefetch(const float* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
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
