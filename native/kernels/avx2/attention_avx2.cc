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
#include "kernels/common/attention_rows.h"
#include "kernels/common/attention_tile.h"

namespace sa {
namespace {

// The row kernel's traits: plain 8-lane ymm vectors.
struct Avx2Row : VecAvx2 {
  static constexpr int kRowPvCols = 4;
};

// 16 float lanes as two ymm halves (lanes 0-7, 8-15); every operation is done on both halves.
struct Avx2Pair {
  __m256 lo, hi;
};
struct Avx2PairI {
  __m256i lo, hi;
};

struct Avx2PairVec {
  using F = Avx2Pair;
  using I = Avx2PairI;
  using H = VecAvx2;
  static constexpr int W = 16;
  // 64 keys per block (mask and bias rows, the non-finite value check). 4 keys per S^T tile: 8
  // accumulators, the 8 chains two FMA pipes of latency 4 need (6 keys would make GCC spill the
  // pairs).
  static constexpr int kKeyBlock = 64;
  static constexpr int kScoreKeys = 4;
  // P.V from the score registers, 3 columns of dv per pass: at least as fast as P^T through L1
  // (4 rows x 1 pair), faster on long and causal rows; 2 columns were slower.
  static constexpr bool kPvFromScoreRegisters = true;
  static constexpr int kPvRegColumns = 3;

  static F both(__m256 x) { return F{x, x}; }
  static F zero() { return both(_mm256_setzero_ps()); }
  static F set1(float x) { return both(_mm256_set1_ps(x)); }
  static F negInf() { return both(H::negInf()); }
  static F load(const float* p) { return F{_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
  static F loadu(const float* p) { return F{_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static void store(float* p, F v) {
    _mm256_store_ps(p, v.lo);
    _mm256_store_ps(p + 8, v.hi);
  }
  static void storeu(float* p, F v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
  }
  static F bcast(const float* p) { return both(_mm256_broadcast_ss(p)); }
  static F fmadd(F a, F b, F c) { return F{_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
  static F add(F a, F b) { return F{_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  static F sub(F a, F b) { return F{_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
  static F mul(F a, F b) { return F{_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  static F max(F a, F b) { return F{_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
  static F min(F a, F b) { return F{_mm256_min_ps(a.lo, b.lo), _mm256_min_ps(a.hi, b.hi)}; }
  static F div(F a, F b) { return F{_mm256_div_ps(a.lo, b.lo), _mm256_div_ps(a.hi, b.hi)}; }
  static F exp2(F x) { return F{H::exp2(x.lo), H::exp2(x.hi)}; }
  static F loadTail(const float* p, int n) {
    if (n <= 8) return F{H::loadTail(p, n), _mm256_setzero_ps()};
    return F{_mm256_loadu_ps(p), H::loadTail(p + 8, n - 8)};
  }
  static void storeTail(float* p, F v, int n) {
    if (n <= 8) {
      H::storeTail(p, v.lo, n);
    } else {
      _mm256_storeu_ps(p, v.lo);
      H::storeTail(p + 8, v.hi, n - 8);
    }
  }
  static I loadI(const int32_t* p) { return I{H::loadI(p), H::loadI(p + 8)}; }
  static F keepKeyRange(F s, I begin, I end, int32_t key) {
    return F{H::keepKeyRange(s.lo, begin.lo, end.lo, key), H::keepKeyRange(s.hi, begin.hi, end.hi, key)};
  }
  static F addBias(F s, F b) { return F{H::addBias(s.lo, b.lo), H::addBias(s.hi, b.hi)}; }
  static F zeroIfNegInf(F m) { return F{H::zeroIfNegInf(m.lo), H::zeroIfNegInf(m.hi)}; }
  static bool anyNaN(F a) { return H::anyNaN(_mm256_add_ps(a.lo, a.hi)); }
  static bool anyGreater(F a, F b) {
    return _mm256_movemask_ps(
               _mm256_or_ps(_mm256_cmp_ps(a.lo, b.lo, _CMP_GT_OQ), _mm256_cmp_ps(a.hi, b.hi, _CMP_GT_OQ))) != 0;
  }
  // 16 x 16 as four 8 x 8 blocks: the off-diagonal blocks swap places.
  static void transpose(F* a) {
    // The 8 x 8 block of rows row0 .. row0 + 7, lanes 0-7 (lo) or 8-15 (hi), transposed into out.
    const auto block = [a](int row0, bool hi, __m256* out) {
      for (int r = 0; r < 8; ++r) out[r] = hi ? a[row0 + r].hi : a[row0 + r].lo;
      H::transpose(out);
    };
    __m256 b[8], c[8], d[8], e[8];
    block(0, false, b);  // rows 0-7, columns 0-7
    block(8, false, c);  // rows 8-15, columns 0-7
    block(0, true, d);   // rows 0-7, columns 8-15
    block(8, true, e);   // rows 8-15, columns 8-15
    for (int r = 0; r < 8; ++r) {
      a[r] = F{b[r], c[r]};
      a[8 + r] = F{d[r], e[r]};
    }
  }

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
