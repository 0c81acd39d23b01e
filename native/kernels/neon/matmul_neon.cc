// NEON matmul: the vector traits of the shared micro-kernel and packing
// (kernels/common/matmul_tile-inl.h). An 8 x 12 register tile (8 rows x three q registers of 4).
//
// Register budget (32 q): 24 accumulators + 3 B vectors + 2 A vectors = 29. Each k step loads
// 3 B vectors and 2 A vectors (8 rows of a packed panel) for 24 FMAs by lane (fmla v.4s, v.s[i]),
// so loads stay far below the FMA count; 24 independent accumulators cover the 4-cycle FMA latency
// on up to four FMA pipes (16 needed). Packing is plain loops (matmul_packing.h).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/matmul_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/vec_neon.h"
#include "kernels/common/matmul_tile-inl.h"

namespace sa {
namespace {

// The vector operations are VecNeon's; this adds the tile shape, the matmul's choices and the
// k-major FMA by lane.
struct NeonMatmul : VecNeon {
  static constexpr int kMr = 8, kNr = 12;  // the register tile: rows x columns
  static constexpr bool kPrefetchC = false;
  static constexpr int64_t kPrefetchBSteps = 0;
  static constexpr bool kFmaByLane = true;
  static constexpr bool kTransposeInRegisters = false;
  static constexpr bool kPackRowsAcrossPanels = false;

  static void prefetch(const float*) {}

  // One k step of a k-major A: its M (1..8) values in two q registers (exactly M floats read: an
  // edge tile of op(A) read in place ends at the matrix), each row's FMAs by lane.
  template <int M, int NV>
  static void fmaKMajor(F (&acc)[M][NV], const F (&bv)[NV], const float* a) {
    F av[2];
    av[0] = M >= 4 ? vld1q_f32(a) : loadTail(a, M);
    av[1] = M >= 8 ? vld1q_f32(a + 4) : (M > 4 ? loadTail(a + 4, M - 4) : zero());
    fmaRowsByLane<M, NV>(acc, bv, av, std::make_index_sequence<M>{});
  }
  // acc[Row][v] += av[Row / 4][Row % 4] * bv[v]: the lane must be a compile-time constant.
  // (Row, not I: VecNeon::I is the integer vector type.)
  template <int M, int NV, std::size_t... Row>
  static void fmaRowsByLane(F (&acc)[M][NV], const F (&bv)[NV], const F (&av)[2], std::index_sequence<Row...>) {
    (fmaRowByLane<static_cast<int>(Row), NV>(acc[Row], bv, av), ...);
  }
  template <int Row, int NV>
  static void fmaRowByLane(F (&accRow)[NV], const F (&bv)[NV], const F (&av)[2]) {
    SA_UNROLL_FULL
    for (int v = 0; v < NV; ++v) accRow[v] = vfmaq_laneq_f32(accRow[v], bv[v], av[Row / 4], Row % 4);
  }
};

}  // namespace

const MatmulKernels* matmulKernelsNeon() {
  static constexpr MatmulKernels kKernels = matmulKernelsOf<NeonMatmul>("neon");
  return &kKernels;
}

}  // namespace sa

#else
namespace sa {
const MatmulKernels* matmulKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
