// AVX-512 fused attention: the vector traits for the shared tile / row kernels
// (kernels/common/attention_tile.h, attention_rows.h) and the table entry.
//
// Tiles of 16 query rows (one per lane). Register budget (32 zmm): the S^T micro-kernel holds 16
// key accumulators + the Q^T column (the key element is an embedded broadcast operand of the FMA);
// the weights stay in those 16 registers for the P.V step, which adds 8 accumulators (8 columns
// of O^T; the value element is an embedded broadcast too) = 24, plus the softmax's constants.
// The softmax (fused into the S^T step) adds ~13 vector operations per 16 scores against 2 * d
// FMAs per 16 scores.
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/vec_avx512.h"
#include "kernels/common/attention_rows.h"
#include "kernels/common/attention_tile.h"

namespace sa {
namespace {

struct Avx512Attention : VecAvx512 {
  // 64 keys per block: the unit of the mask and bias rows written ahead and of the non-finite
  // value check; the P.V follows each score step of 16 keys.
  static constexpr int kKeyBlock = 64;
  static constexpr int kScoreKeys = 16;
  // P.V straight from the 16 score registers, 8 columns of dv per pass (attention_tile.h): no
  // store and reload of P, no per-block O * alpha, V read once per tile instead of once per 4 rows.
  static constexpr bool kPvFromScoreRegisters = true;
  static constexpr int kPvRegColumns = 8;
  static constexpr int kRowPvCols = 8;

  template <int N>
  static void scores(const float* qt, const float* k, int64_t ks, int64_t dk, F init, F* acc, const float* kNext,
                     int nextRows) {
    scoresByBroadcast<Avx512Attention, N>(qt, k, ks, dk, init, acc, kNext, nextRows);
  }
};

}  // namespace

const AttentionKernels* attentionKernelsAvx512() {
  // Below 8 rows the tile kernel's S^T would be more than half empty lanes; the row kernel reads
  // K and V once per tile either way and does only useful FMAs.
  using A = Avx512Attention;
  static const AttentionKernels k{
      "avx512", 16, 8, TileAttention<A>::run, rowAttention<A>, rowAttentionScores<A>, exp2Array<A>, nullptr, nullptr};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const AttentionKernels* attentionKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
