// The AVX2 + FMA vector traits (8 float lanes). A traits class (this one, vec_avx512.h, vec_neon.h)
// holds the operations the kernels written once over a class V use: attention_tile.h,
// attention_rows.h, vector_ops-inl.h, rotary-inl.h, seq2seq-inl.h, fma_peak-inl.h,
// matmul_tile-inl.h, linear_attention-inl.h. A kernel's own constants (tile shapes) go in a class
// derived from it in the kernel's ISA file. The set is additive: new operations may be added;
// existing ones keep their meaning on every ISA.
// Include inside SA_TARGET_AVX2_BEGIN / SA_TARGET_END, after <immintrin.h>.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/exp_poly.h"

namespace sa {

struct VecAvx2 {
  using F = __m256;
  using I = __m256i;
  static constexpr int W = 8;

#define SA_X86_PS(op) _mm256_##op
#include "kernels/common/vec_x86_ops-inl.h"
#undef SA_X86_PS
  static F bcast(const float* p) { return _mm256_broadcast_ss(p); }
  // 2^x (exp_poly.h: byExponentField; max 0.93 ulp measured). Domain: finite x, and -inf. x < -126
  // (and -inf) gives exactly 0, x >= 128 gives +inf, NaN gives NaN.
  static F exp2(F x) { return exp2poly::byExponentField<VecAvx2>(x); }
  static F roundNearest(F x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static F pow2(F n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  // r where x >= bound (or NaN), 0 where x < bound.
  static F zeroWhereBelow(F x, float bound, F r) {
    return _mm256_and_ps(r, _mm256_cmp_ps(x, _mm256_set1_ps(bound), _CMP_NLT_UQ));
  }

  // The first n lanes (all of them for n >= 8), for loadMasked / storeMasked.
  using Mask = __m256i;
  static Mask lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // vmaskmovps touches only the enabled lanes (no fault, nothing read past the row).
  static F loadMasked(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void storeMasked(float* p, Mask m, F v) { _mm256_maskstore_ps(p, m, v); }
  static F loadTail(const float* p, int n) { return loadMasked(p, lanes(n)); }
  static void storeTail(float* p, F v, int n) { storeMasked(p, lanes(n), v); }
  // W bfloat16 / float16 elements widened to float lanes (exact); the Tail forms read n < W of them.
  static F loadBf16(const uint16_t* p) { return widenBf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F loadBf16Tail(const uint16_t* p, int n) { return widenBf16(loadHalvesTail(p, n)); }
  // 2W bfloat16 elements at p widened without a shuffle: the even-indexed ones and the odd-indexed ones.
  static void loadBf16Pairs(const uint16_t* p, F* even, F* odd) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
    *odd = _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
  static F widenBf16(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static F loadF16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F loadF16Tail(const uint16_t* p, int n) { return _mm256_cvtph_ps(loadHalvesTail(p, n)); }
  static __m128i loadHalvesTail(const uint16_t* p, int n) {
    alignas(16) uint16_t tmp[8] = {};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
  }
  static I loadI(const int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }

  // a < b ? x : y per lane.
  static F selectLess(F a, F b, F x, F y) { return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  // |mag| with the sign bit of s or-ed in (mag >= 0).
  static F orSignOf(F mag, F s) { return _mm256_or_ps(mag, _mm256_and_ps(s, _mm256_set1_ps(-0.0f))); }

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
  static bool anyGreater(F a, F b) { return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ)) != 0; }
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
    F quad[2];
    sumQuads(a, quad);
    return _mm256_add_ps(_mm256_permute2f128_ps(quad[0], quad[1], 0x20),
                         _mm256_permute2f128_ps(quad[0], quad[1], 0x31));
  }

  // In-place 8 x 8 transpose: a[r] lane c becomes a[c] lane r.
  static void transpose(F* a) {
    F v[8];
    transposeWithinLanes(a, v);
    for (int c = 0; c < 4; ++c) {
      a[c] = _mm256_permute2f128_ps(v[c], v[4 + c], 0x20);
      a[4 + c] = _mm256_permute2f128_ps(v[c], v[4 + c], 0x31);
    }
  }
};

}  // namespace sa
