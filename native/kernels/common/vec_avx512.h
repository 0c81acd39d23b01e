// The AVX-512 vector traits (16 float lanes); what a traits class is: vec_avx2.h. Include inside
// SA_TARGET_AVX512_BEGIN / SA_TARGET_END, after <immintrin.h>.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/exp_poly.h"

namespace sa {

struct VecAvx512 {
  using F = __m512;
  using I = __m512i;
  static constexpr int W = 16;

  // The first n lanes (0 <= n <= 16), for loadMasked / storeMasked.
  using Mask = __mmask16;
  static Mask lanes(int n) { return static_cast<Mask>((1u << n) - 1u); }
  // Masked loads and stores touch only the enabled lanes (no fault, no ASan report past them); the
  // other lanes of a load are zero.
  static F loadMasked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void storeMasked(float* p, Mask m, F v) { _mm512_mask_storeu_ps(p, m, v); }
  static F loadTail(const float* p, int n) { return loadMasked(p, lanes(n)); }
  static void storeTail(float* p, F v, int n) { storeMasked(p, lanes(n), v); }
  // W bfloat16 / float16 elements widened to float lanes (exact); the Tail forms read n < W of them.
  static F loadBf16(const uint16_t* p) { return widenBf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static F loadBf16Tail(const uint16_t* p, int n) { return widenBf16(_mm256_maskz_loadu_epi16(lanes(n), p)); }
  // 2W bfloat16 elements at p widened without a shuffle: the even-indexed ones and the odd-indexed ones.
  static void loadBf16Pairs(const uint16_t* p, F* even, F* odd) {
    const __m512i x = _mm512_loadu_si512(p);
    *even = _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
    *odd = _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
  static F widenBf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static F loadF16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static F loadF16Tail(const uint16_t* p, int n) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(n), p)); }

#define SA_X86_PS(op) _mm512_##op
#include "kernels/common/vec_x86_ops-inl.h"
#undef SA_X86_PS
  // The AVX-512 FMA takes it as an embedded broadcast operand.
  static F bcast(const float* p) { return _mm512_set1_ps(*p); }
  // 2^x (polynomial: exp_poly.h; max 0.95 ulp measured). Domain: finite x <= 127, and -inf. x < -126
  // (and -inf) gives exactly 0; NaN gives NaN (the flush test is an ordered "<", false for NaN).
  // vscalefps applies 2^n without integer tricks.
  static F exp2(F x) {
    const F n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const F p = exp2poly::fraction<VecAvx512>(_mm512_sub_ps(x, n));  // NaN for x = -inf: flushed below
    const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(exp2poly::kFlushBelow), _CMP_NLT_UQ);
    return _mm512_maskz_scalef_ps(keep, p, n);
  }

  static I loadI(const int32_t* p) { return _mm512_load_si512(p); }

  // a < b ? x : y per lane.
  static F selectLess(F a, F b, F x, F y) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x); }
  static F abs(F a) { return _mm512_abs_ps(a); }
  // |mag| with the sign bit of s or-ed in (mag >= 0).
  static F orSignOf(F mag, F s) {
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32(static_cast<int>(0x80000000u)));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(mag), sign));
  }

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
  static F zeroIfNegInf(F m) { return _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(m, negInf(), _CMP_EQ_OQ), zero()); }
  static F negInfPastLanes(F s, int n) { return _mm512_mask_mov_ps(negInf(), lanes(n), s); }
  static bool anyNaN(F a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) != 0; }
  static bool anyGreater(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ) != 0; }
  static float hmax(F v) { return _mm512_reduce_max_ps(v); }
  static float hsum(F v) { return _mm512_reduce_add_ps(v); }

  // Lane i of the result = the sum of the lanes of a[i]: a transpose-and-add tree, 45 shuffles and
  // adds for 16 vectors (16 separate horizontal sums would take ~128).
  static F reduceLanes(const F* a) {
    F quad[4];
    sumQuads(a, quad);
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
    F v[16];
    transposeWithinLanes(a, v);
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
};

}  // namespace sa
