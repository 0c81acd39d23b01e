// AVX-512 fused attention: the vector traits for the shared tile / row kernels
// (kernels/common/attention_tile.h, attention_rows.h) and the table entry.
//
// Tiles of 32 query rows, one per lane of a pair of zmm (vec_pair.h: each broadcast key or value
// element feeds two FMAs instead of one; see there why that matters).
// Register budget (32 zmm): the S^T micro-kernel holds 8 keys x 2 halves = 16 accumulators + the
// Q^T column pair + a broadcast; the weights stay in those 16 registers for the P.V step, which adds
// 4 columns of O^T x 2 halves = 8 accumulators (8 chains of FMA latency 4 keep both pipes busy) + a
// broadcast = 25, plus the softmax's constants.
// Tiles of up to 16 rows (a head's last tile, short query runs) take the single-zmm form: 16 keys,
// 8 columns of O^T. The softmax (fused into the S^T step) adds ~13 vector operations per vector of
// scores against 2 * d FMAs.
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/vec_avx512.h"
#include "kernels/common/vec_pair.h"
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

// 32 rows as a pair of zmm.
struct Avx512PairAttention : VecPair<VecAvx512> {
  static constexpr int kKeyBlock = 64;
  // 8 keys x 2 halves: 16 accumulators (12 keys would leave P.V too few registers for 8 chains).
  static constexpr int kScoreKeys = 8;
  static constexpr bool kPvFromScoreRegisters = true;
  static constexpr int kPvRegColumns = 4;

  template <int N>
  static void scores(const float* qt, const float* k, int64_t ks, int64_t dk, F init, F* acc, const float* kNext,
                     int nextRows) {
    scoresByBroadcast<Avx512PairAttention, N>(qt, k, ks, dk, init, acc, kNext, nextRows);
  }
};

void tileAvx512(const AttentionHeadInput& in, const AttentionTile& t) {
  if (t.rows > Avx512Attention::W) {
    TileAttention<Avx512PairAttention>::run(in, t);
  } else {
    TileAttention<Avx512Attention>::run(in, t);
  }
}

}  // namespace

const AttentionKernels* attentionKernelsAvx512() {
  // Below 8 rows the tile kernel's S^T would be more than half empty lanes; the row kernel reads
  // K and V once per tile either way and does only useful FMAs.
  using A = Avx512Attention;
  static const AttentionKernels k{"avx512",     2 * A::W, 8,      tileAvx512, rowAttention<A>, rowAttentionScores<A>,
                                  exp2Array<A>, nullptr,  nullptr};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const AttentionKernels* attentionKernelsAvx512() { return nullptr; }
}  // namespace sa
#endif
