// AVX-512 fused attention: the vector traits for the shared tile / row kernels
// (kernels/common/attention_tile.h, attention_rows.h) and the table entry.
//
// Tiles of 16 query rows (one per lane). Register budget (32 zmm): the S^T micro-kernel holds 16
// key accumulators + the Q^T column (the key element is an embedded broadcast operand of the FMA);
// the weights stay in those 16 registers for the P.V step, which adds 8 accumulators (8 columns
// of O^T; the value element is an embedded broadcast too) = 24, plus the softmax's constants.
// Zen 4 issues one 512-bit FMA per cycle; the softmax (fused into the S^T step) adds ~13 vector
// operations per 16 scores against 2 * d FMAs per 16 scores. Measured at d = 64, one thread:
// 84.5-91% of the FMA peak for L >= 1024 (bench/RESULTS.md, ninth session).
#include <cmath>
#include <cstdint>

#include "kernels/attention_kernels.h"
#include "runtime/isa.h"

#if SA_ARCH_X86_64
#include <immintrin.h>

#include "kernels/common/target.h"

SA_TARGET_AVX512_BEGIN
#include "kernels/common/attention_rows.h"
#include "kernels/common/attention_tile.h"
#include "kernels/common/exp_avx512.h"

namespace sa {
namespace {

struct Avx512Vec {
  using F = __m512;
  using I = __m512i;
  static constexpr int W = 16;
  // 64 keys per block: the unit of the mask and bias rows written ahead and of the non-finite
  // value check; the P.V follows each score step of 16 keys.
  static constexpr int kKeyBlock = 64;
  static constexpr int kScoreKeys = 16;
  // P.V straight from the 16 score registers, 8 columns of dv per pass (attention_tile.h). A/B
  // against P^T through L1 (4 rows x 6 vectors of dv per micro-tile), d = 64: 1 thread L = 1024
  // +3-6%, 2048 +5-6%, 4096 +1.7-2.2%, causal 2048 +2-4%; 2 threads 4096 +8-10%; L = 2048 at
  // d = 128 / 96 / 80 / 32: +6 / +4 / +2.4 / +2.5% (no store and reload of P, no per-block
  // O * alpha, V read once per tile instead of once per 4 rows).
  static constexpr bool kPvFromScoreRegisters = true;
  static constexpr int kPvRegColumns = 8;
  static constexpr int kRowPvCols = 8;

  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F negInf() { return _mm512_set1_ps(-INFINITY); }
  static F load(const float* p) { return _mm512_load_ps(p); }
  static F loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_store_ps(p, v); }
  static void storeu(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F bcast(const float* p) { return _mm512_set1_ps(*p); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }  // b when either is NaN
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F exp2(F x) { return avx512::exp2(x); }

  static __mmask16 lanes(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  // Masked loads and stores touch only the first n elements (no fault, no ASan report past them).
  static F loadTail(const float* p, int n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  static void storeTail(float* p, F v, int n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
  static I loadI(const int32_t* p) { return _mm512_load_si512(p); }

  static F keepKeyRange(F s, I begin, I end, int32_t key) {
    const I k = _mm512_set1_epi32(key);
    const __mmask16 ok = _mm512_cmple_epi32_mask(begin, k) & _mm512_cmpgt_epi32_mask(end, k);
    return _mm512_mask_mov_ps(negInf(), ok, s);
  }
  // A -inf bias forbids the pair outright (even a NaN score does not get through it).
  static F addBias(F s, F b) {
    const __mmask16 forbid = _mm512_cmp_ps_mask(b, negInf(), _CMP_EQ_OQ);
    return _mm512_mask_mov_ps(_mm512_add_ps(s, b), forbid, negInf());
  }
  static F zeroIfNegInf(F m) {
    return _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(m, negInf(), _CMP_EQ_OQ), zero());
  }
  static F negInfPastLanes(F s, int n) { return _mm512_mask_mov_ps(negInf(), lanes(n), s); }
  static bool anyNaN(F a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) != 0; }
  static bool anyGreater(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ) != 0; }
  static float hmax(F v) { return _mm512_reduce_max_ps(v); }
  static float hsum(F v) { return _mm512_reduce_add_ps(v); }

  // Lane i of the result = the sum of the lanes of a[i]: a transpose-and-add tree, 45 shuffles and
  // adds for 16 vectors (16 separate horizontal sums would take ~128).
  static F reduceLanes(const F* a) {
    F pair[8];
    for (int i = 0; i < 8; ++i) {  // per 128-bit lane: (a0+a2, b0+b2, a1+a3, b1+b3)
      pair[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                              _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    }
    F quad[4];
    for (int i = 0; i < 4; ++i) {  // per 128-bit lane: the 4-element sums of inputs 4i..4i+3
      quad[i] = _mm512_add_ps(_mm512_shuffle_ps(pair[2 * i], pair[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_ps(pair[2 * i], pair[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    // Add the four 128-bit lanes of each quad, leaving quad i in 128-bit lane i.
    const F h01 = _mm512_add_ps(_mm512_shuffle_f32x4(quad[0], quad[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                _mm512_shuffle_f32x4(quad[0], quad[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const F h23 = _mm512_add_ps(_mm512_shuffle_f32x4(quad[2], quad[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                _mm512_shuffle_f32x4(quad[2], quad[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(3, 1, 3, 1)));
  }

  // In-place 16 x 16 transpose: a[r] lane c becomes a[c] lane r (unpack pairs, then 4 x 4 blocks
  // within 128-bit lanes, then the 128-bit lanes across registers; 64 shuffles).
  static void transpose(F* a) {
    F u[16], v[16];
    for (int k = 0; k < 8; ++k) {
      u[2 * k] = _mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]);
      u[2 * k + 1] = _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]);
    }
    for (int k = 0; k < 4; ++k) {  // v[4k + c], 128-bit lane L: rows 4k..4k+3 of column 4L + c
      v[4 * k + 0] = _mm512_shuffle_ps(u[4 * k], u[4 * k + 2], 0x44);
      v[4 * k + 1] = _mm512_shuffle_ps(u[4 * k], u[4 * k + 2], 0xEE);
      v[4 * k + 2] = _mm512_shuffle_ps(u[4 * k + 1], u[4 * k + 3], 0x44);
      v[4 * k + 3] = _mm512_shuffle_ps(u[4 * k + 1], u[4 * k + 3], 0xEE);
    }
    for (int c = 0; c < 4; ++c) {
      const F even0 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0x88);
      const F even1 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0x88);
      const F odd0 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0xDD);
      const F odd1 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0xDD);
      a[c] = _mm512_shuffle_f32x4(even0, even1, 0x88);
      a[8 + c] = _mm512_shuffle_f32x4(even0, even1, 0xDD);
      a[4 + c] = _mm512_shuffle_f32x4(odd0, odd1, 0x88);
      a[12 + c] = _mm512_shuffle_f32x4(odd0, odd1, 0xDD);
    }
  }

  template <int N>
  static void scores(const float* qt, const float* k, int64_t ks, int64_t dk, F init, F* acc,
                     const float* kNext, int nextRows) {
    scoresByBroadcast<Avx512Vec, N>(qt, k, ks, dk, init, acc, kNext, nextRows);
  }
};

void tileAvx512(const AttentionHeadInput& head, const AttentionTile& tile) {
  TileAttention<Avx512Vec>::run(head, tile);
}

void rowsAvx512(const AttentionHeadInput& head, const AttentionTile& tile) {
  RowAttention<Avx512Vec>::run(head, tile);
}

void exp2Avx512(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, avx512::exp2(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    Avx512Vec::storeTail(y + i, avx512::exp2(Avx512Vec::loadTail(x + i, rest)), rest);
  }
}

}  // namespace
}  // namespace sa
SA_TARGET_END
#endif

namespace sa {
const AttentionKernels* attentionKernelsAvx512() {
#if SA_ARCH_X86_64
  // Below 8 rows the tile kernel's S^T would be more than half empty lanes; the row kernel reads
  // K and V once per tile either way and does only useful FMAs.
  static const AttentionKernels k{"avx512", 16, 8, tileAvx512, rowsAvx512, exp2Avx512};
  return &k;
#else
  return nullptr;
#endif
}
}  // namespace sa
