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
#include "kernels/common/vec_avx2.h"
#include "kernels/common/matmul_tile-inl.h"

namespace sa {
namespace {

// The vector operations are VecAvx2's; this adds the tile shape and the matmul's choices.
struct Avx2Matmul : VecAvx2 {
  static constexpr int kMr = 6, kNr = 16;  // the register tile: rows x columns
  static constexpr bool kPrefetchC = true;
  static constexpr int64_t kPrefetchBSteps = 0;
  static constexpr bool kFmaByLane = false;
  static constexpr bool kTransposeInRegisters = true;
  static constexpr bool kPackRowsAcrossPanels = false;

  static void prefetch(const float* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
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
