// AVX2 + FMA fused attention: the vector traits for the shared tile / row kernels
// (kernels/common/attention_tile.h, attention_rows.h) and the table entry.
//
// Two vector types. The row kernel (decode) uses plain 8-lane ymm vectors. The tile kernel uses a
// 16-lane pair of ymm (Avx2PairVec), a 16-row tile: with one ymm per key the S^T micro-kernel
// needs one broadcast load per FMA, and current cores sustain about one broadcast load per cycle
// against two FMAs; with the pair every broadcast feeds two FMAs.
// Register budget (16 ymm): S^T holds 4 keys x 2 halves = 8 accumulators + the Q^T column pair +
// a broadcast; the weights stay there for P.V, which adds 3 columns of O^T x 2 halves = 6
// accumulators + a broadcast (15).
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX2_BEGIN
#include "kernels/common/vec_avx2.h"
#include "kernels/common/vec_pair.h"
#include "kernels/common/attention_rows.h"
#include "kernels/common/attention_tile.h"

namespace sa {
namespace {

// The row kernel's traits: plain 8-lane ymm vectors.
struct Avx2Row : VecAvx2 {
  static constexpr int kRowPvCols = 4;
};

// The tile kernel's traits: 16 float lanes as two ymm halves (vec_pair.h).
struct Avx2PairVec : VecPair<VecAvx2> {
  // 64 keys per block (mask and bias rows, the non-finite value check). 4 keys per S^T tile: 8
  // accumulators, the 8 chains two FMA pipes of latency 4 need (6 keys would make GCC spill the
  // pairs).
  static constexpr int kKeyBlock = 64;
  static constexpr int kScoreKeys = 4;
  // P.V from the score registers, 3 columns of dv per pass: at least as fast as P^T through L1
  // (4 rows x 1 pair), faster on long and causal rows; 2 columns were slower.
  static constexpr bool kPvFromScoreRegisters = true;
  static constexpr int kPvRegColumns = 3;

  // Without the next step's key prefetch: with 4 keys per step its share of the loop is four
  // times the AVX-512 kernel's, more than it saves.
  template <int N>
  static void scores(const float* qt, const float* k, int64_t ks, int64_t dk, F init, F* acc, const float* /*kNext*/,
                     int /*nextRows*/) {
    scoresByBroadcast<Avx2PairVec, N>(qt, k, ks, dk, init, acc, k, 0);
  }
};

}  // namespace

const AttentionKernels* attentionKernelsAvx2() {
  // Below 8 rows the 16-row tile would be more than half empty; the row kernel does useful FMAs only.
  static const AttentionKernels k{"avx2",
                                  16,
                                  8,
                                  TileAttention<Avx2PairVec>::run,
                                  rowAttention<Avx2Row>,
                                  rowAttentionScores<Avx2Row>,
                                  exp2Array<Avx2Row>,
                                  nullptr,
                                  nullptr};
  return &k;
}

}  // namespace sa
SA_TARGET_END
#else
namespace sa {
const AttentionKernels* attentionKernelsAvx2() { return nullptr; }
}  // namespace sa
#endif
