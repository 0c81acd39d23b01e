// NEON (AArch64) fused attention: the vector traits for the shared tile / row kernels
// (kernels/common/attention_tile.h, attention_rows.h) and the table entry.
//
// Tiles are 4 query rows (one per lane). The S^T micro-kernel uses by-lane FMAs: one 4-float load
// of a key row feeds 4 FMAs (vfmaq_laneq_f32), so 16 keys x 4 steps of dk cost 16 loads of K and 4
// of Q^T for 64 FMAs. Register budget (32 q registers): 16 key accumulators + 4 Q^T columns + one
// key vector; the P.V micro-kernel 4 rows x 4 vectors (16 accumulators) + 4 value vectors.
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_ARM64
#include <arm_neon.h>

#include "kernels/common/vec_neon.h"
#include "kernels/common/attention_rows.h"
#include "kernels/common/attention_tile.h"

namespace sa {
namespace {

struct NeonAttention : VecNeon {
  static constexpr int kKeyBlock = 64;
  static constexpr int kScoreKeys = 16;
  static constexpr int kPvRows = 4;
  static constexpr int kPvCols = 4;
  // P^T through L1: the form from the score registers (AVX-512, AVX2) is not measured on NEON,
  // which only runs under qemu here.
  static constexpr bool kPvFromScoreRegisters = false;
  static constexpr int kRowPvCols = 4;

  // The next step's key rows are not prefetched here (the AVX-512 kernel does; not measured on an
  // ARM core, whose prefetchers may well follow the 16 row streams).
  template <int N>
  static void scores(const float* qt, const float* k, int64_t ks, int64_t dk, F init, F* acc, const float* /*kNext*/,
                     int /*nextRows*/) {
    for (int j = 0; j < N; ++j) acc[j] = init;
    int64_t d = 0;
    for (; d + 4 <= dk; d += 4) {
      const F q0 = vld1q_f32(qt + d * 4), q1 = vld1q_f32(qt + (d + 1) * 4);
      const F q2 = vld1q_f32(qt + (d + 2) * 4), q3 = vld1q_f32(qt + (d + 3) * 4);
      for (int j = 0; j < N; ++j) {
        const F kv = vld1q_f32(k + j * ks + d);
        acc[j] = vfmaq_laneq_f32(acc[j], q0, kv, 0);
        acc[j] = vfmaq_laneq_f32(acc[j], q1, kv, 1);
        acc[j] = vfmaq_laneq_f32(acc[j], q2, kv, 2);
        acc[j] = vfmaq_laneq_f32(acc[j], q3, kv, 3);
      }
    }
    for (; d < dk; ++d) {
      const F q = vld1q_f32(qt + d * 4);
      for (int j = 0; j < N; ++j) acc[j] = vfmaq_f32(acc[j], q, vld1q_dup_f32(k + j * ks + d));
    }
  }
};

}  // namespace

const AttentionKernels* attentionKernelsNeon() {
  using A = NeonAttention;
  static const AttentionKernels k{
      "neon", 4, 2, TileAttention<A>::run, rowAttention<A>, rowAttentionScores<A>, exp2Array<A>, nullptr, nullptr};
  return &k;
}

}  // namespace sa
#else
namespace sa {
const AttentionKernels* attentionKernelsNeon() { return nullptr; }
}  // namespace sa
#endif
