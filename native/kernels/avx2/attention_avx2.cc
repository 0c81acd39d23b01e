// AVX2 + FMA fused attention: the vector traits for the shared tile / row kernels
// (kernels/common/attention_tile.h, attention_rows.h) and the table entry.
//
// Two vector types. The row kernel (decode) uses plain 8-lane ymm vectors. The tile kernel uses a
// 16-lane pair of ymm (Avx2PairVec), a 16-row tile: with one ymm per key the S^T micro-kernel
// needs one broadcast load per FMA, and Zen 4 sustains only about one broadcast load per cycle
// against two FMAs (the tile kernel measured 51% of the FMA peak at d = 64, L = 1024); with the
// pair every broadcast feeds two FMAs (76%).
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
#include "kernels/common/attention_rows.h"
#include "kernels/common/attention_tile.h"
#include "kernels/common/exp_avx2.h"

namespace sa {
namespace {

struct Avx2Vec {
  using F = __m256;
  using I = __m256i;
  static constexpr int W = 8;
  static constexpr int kKeyBlock = 64;
  static constexpr int kRowPvCols = 4;

  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F negInf() { return _mm256_set1_ps(-INFINITY); }
  static F load(const float* p) { return _mm256_load_ps(p); }
  static F loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_store_ps(p, v); }
  static void storeu(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }  // b when either is NaN
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F exp2(F x) { return avx2::exp2(x); }

  static __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // vmaskmovps touches only the enabled lanes (no fault, nothing read past the row).
  static F loadTail(const float* p, int n) { return _mm256_maskload_ps(p, lanes(n)); }
  static void storeTail(float* p, F v, int n) { _mm256_maskstore_ps(p, lanes(n), v); }
  static I loadI(const int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }

  static F keepKeyRange(F s, I begin, I end, int32_t key) {
    const I k = _mm256_set1_epi32(key);
    const I ok = _mm256_andnot_si256(_mm256_cmpgt_epi32(begin, k), _mm256_cmpgt_epi32(end, k));
    return _mm256_blendv_ps(negInf(), s, _mm256_castsi256_ps(ok));
  }
  static F addBias(F s, F b) {
    return _mm256_blendv_ps(_mm256_add_ps(s, b), negInf(), _mm256_cmp_ps(b, negInf(), _CMP_EQ_OQ));
  }
  static F zeroIfNegInf(F m) { return _mm256_andnot_ps(_mm256_cmp_ps(m, negInf(), _CMP_EQ_OQ), m); }
  static F negInfPastLanes(F s, int n) { return _mm256_blendv_ps(negInf(), s, _mm256_castsi256_ps(lanes(n))); }
  static bool anyNaN(F a) { return _mm256_movemask_ps(_mm256_cmp_ps(a, a, _CMP_UNORD_Q)) != 0; }
  static float hmax(F v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  static float hsum(F v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  // Lane i of the result = the sum of the lanes of a[i] (transpose-and-add tree).
  static F reduceLanes(const F* a) {
    F pair[4];
    for (int i = 0; i < 4; ++i) {
      pair[i] = _mm256_add_ps(_mm256_unpacklo_ps(a[2 * i], a[2 * i + 1]),
                              _mm256_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    }
    F quad[2];
    for (int i = 0; i < 2; ++i) {
      quad[i] = _mm256_add_ps(_mm256_shuffle_ps(pair[2 * i], pair[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm256_shuffle_ps(pair[2 * i], pair[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    return _mm256_add_ps(_mm256_permute2f128_ps(quad[0], quad[1], 0x20),
                         _mm256_permute2f128_ps(quad[0], quad[1], 0x31));
  }

  // In-place 8 x 8 transpose: a[r] lane c becomes a[c] lane r.
  static void transpose(F* a) {
    F u[8], v[8];
    for (int k = 0; k < 4; ++k) {
      u[2 * k] = _mm256_unpacklo_ps(a[2 * k], a[2 * k + 1]);
      u[2 * k + 1] = _mm256_unpackhi_ps(a[2 * k], a[2 * k + 1]);
    }
    for (int k = 0; k < 2; ++k) {  // v[4k + c], 128-bit lane L: rows 4k..4k+3 of column 4L + c
      v[4 * k + 0] = _mm256_shuffle_ps(u[4 * k], u[4 * k + 2], 0x44);
      v[4 * k + 1] = _mm256_shuffle_ps(u[4 * k], u[4 * k + 2], 0xEE);
      v[4 * k + 2] = _mm256_shuffle_ps(u[4 * k + 1], u[4 * k + 3], 0x44);
      v[4 * k + 3] = _mm256_shuffle_ps(u[4 * k + 1], u[4 * k + 3], 0xEE);
    }
    for (int c = 0; c < 4; ++c) {
      a[c] = _mm256_permute2f128_ps(v[c], v[4 + c], 0x20);
      a[4 + c] = _mm256_permute2f128_ps(v[c], v[4 + c], 0x31);
    }
  }

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
  using H = Avx2Vec;
  static constexpr int W = 16;
  // 64 keys per block (mask and bias rows, the non-finite value check). 4 keys per S^T tile: 8
  // accumulators, the 8 chains two FMA pipes of latency 4 need (6 keys, 12 accumulators, measured
  // 37% slower: GCC spills the pairs).
  static constexpr int kKeyBlock = 64;
  static constexpr int kScoreKeys = 4;
  // P.V from the score registers, 3 columns of dv per pass. A/B against P^T through L1 (4 rows x
  // 1 pair), d = 64, SIMD_ATTENTION_ISA=avx2 on Zen 4: 1 thread L = 1024 1.00, 2048 +5%, 4096
  // 0.98-1.07 (two runs), causal 2048 +7-8%; 2 threads 2048 +5% (2 columns: 0.97 at 1024).
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
  static F exp2(F x) { return F{avx2::exp2(x.lo), avx2::exp2(x.hi)}; }
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
    return _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(a.lo, b.lo, _CMP_GT_OQ), _mm256_cmp_ps(a.hi, b.hi, _CMP_GT_OQ))) != 0;
  }
  // 16 x 16 as four 8 x 8 blocks: the off-diagonal blocks swap places.
  static void transpose(F* a) {
    __m256 b[8];
    for (int r = 0; r < 8; ++r) b[r] = a[r].lo;
    H::transpose(b);  // rows 0-7, columns 0-7
    __m256 c[8];
    for (int r = 0; r < 8; ++r) c[r] = a[8 + r].lo;
    H::transpose(c);  // rows 8-15, columns 0-7
    __m256 d[8];
    for (int r = 0; r < 8; ++r) d[r] = a[r].hi;
    H::transpose(d);  // rows 0-7, columns 8-15
    __m256 e[8];
    for (int r = 0; r < 8; ++r) e[r] = a[8 + r].hi;
    H::transpose(e);  // rows 8-15, columns 8-15
    for (int r = 0; r < 8; ++r) {
      a[r] = F{b[r], c[r]};
      a[8 + r] = F{d[r], e[r]};
    }
  }

  // Without the next step's key prefetch: with 4 keys per step its share of the loop is four
  // times the AVX-512 kernel's, and A/B on Zen 4 (this path forced) measured -1%.
  template <int N>
  static void scores(const float* qt, const float* k, int64_t ks, int64_t dk, F init, F* acc,
                     const float* /*kNext*/, int /*nextRows*/) {
    scoresByBroadcast<Avx2PairVec, N>(qt, k, ks, dk, init, acc, k, 0);
  }
};

void tileAvx2(const AttentionHeadInput& head, const AttentionTile& tile) {
  TileAttention<Avx2PairVec>::run(head, tile);
}

void rowsAvx2(const AttentionHeadInput& head, const AttentionTile& tile) {
  RowAttention<Avx2Vec>::run(head, tile);
}

void exp2Avx2(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, avx2::exp2(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    Avx2Vec::storeTail(y + i, avx2::exp2(Avx2Vec::loadTail(x + i, rest)), rest);
  }
}

}  // namespace
}  // namespace sa
SA_TARGET_END
#endif

namespace sa {
const AttentionKernels* attentionKernelsAvx2() {
#if SA_ARCH_X86_64
  // Below 8 rows the 16-row tile would be more than half empty; the row kernel does useful FMAs only.
  static const AttentionKernels k{"avx2", 16, 8, tileAvx2, rowsAvx2, exp2Avx2};
  return &k;
#else
  return nullptr;
#endif
}
}  // namespace sa
