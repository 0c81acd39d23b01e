// The NEON (AArch64) vector traits (4 float lanes); what a traits class is: vec_avx2.h. Include
// after <arm_neon.h>. FMAX / FMIN propagate NaN, where the x86 max / min return their second operand.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/exp_poly.h"

namespace sa {

struct VecNeon {
  using F = float32x4_t;
  using I = int32x4_t;
  static constexpr int W = 4;

  static F zero() { return vdupq_n_f32(0.0f); }
  static F set1(float x) { return vdupq_n_f32(x); }
  static F negInf() { return vdupq_n_f32(-INFINITY); }
  static F load(const float* p) { return vld1q_f32(p); }
  static F loadu(const float* p) { return vld1q_f32(p); }
  static void store(float* p, F v) { vst1q_f32(p, v); }
  static void storeu(float* p, F v) { vst1q_f32(p, v); }
  static F bcast(const float* p) { return vld1q_dup_f32(p); }
  static F fmadd(F a, F b, F c) { return vfmaq_f32(c, a, b); }
  static F add(F a, F b) { return vaddq_f32(a, b); }
  static F sub(F a, F b) { return vsubq_f32(a, b); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F max(F a, F b) { return vmaxq_f32(a, b); }
  static F min(F a, F b) { return vminq_f32(a, b); }  // NaN propagates
  static F div(F a, F b) { return vdivq_f32(a, b); }
  // 2^x (exp_poly.h: byExponentField; 0.93-0.95 ulp measured on x86 with the same operations).
  // Domain: finite x, and -inf. x < -126 (and -inf) gives exactly 0, x >= 128 gives +inf, NaN gives NaN.
  static F exp2(F x) { return exp2poly::byExponentField<VecNeon>(x); }
  static F roundNearest(F x) { return vrndnq_f32(x); }
  static F pow2(F n) { return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23)); }
  // r where x >= bound (or NaN), 0 where x < bound.
  static F zeroWhereBelow(F x, float bound, F r) { return vbslq_f32(vcltq_f32(x, vdupq_n_f32(bound)), zero(), r); }

  // No masked loads in NEON: go through a small zeroed buffer, touching only the first n floats.
  static F loadTail(const float* p, int n) {
    float tmp[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return vld1q_f32(tmp);
  }
  static void storeTail(float* p, F v, int n) {
    float tmp[4];
    vst1q_f32(tmp, v);
    for (int i = 0; i < n; ++i) p[i] = tmp[i];
  }
  // W bfloat16 / float16 elements widened to float lanes (exact); the Tail forms read n < W of them.
  static F loadBf16(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
  // 2W bfloat16 elements at p widened without a shuffle: the even-indexed ones and the odd-indexed ones.
  static void loadBf16Pairs(const uint16_t* p, F* even, F* odd) {
    const uint32x4_t x = vreinterpretq_u32_u16(vld1q_u16(p));
    *even = vreinterpretq_f32_u32(vshlq_n_u32(x, 16));
    *odd = vreinterpretq_f32_u32(vandq_u32(x, vdupq_n_u32(0xFFFF0000u)));
  }
  static F loadBf16Tail(const uint16_t* p, int n) {
    uint16_t tmp[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return loadBf16(tmp);
  }
  static F loadF16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static F loadF16Tail(const uint16_t* p, int n) {
    uint16_t tmp[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; ++i) tmp[i] = p[i];
    return loadF16(tmp);
  }
  // No mask registers: a mask is the count of leading lanes (the x86 traits' lanes / loadMasked).
  using Mask = int;
  static Mask lanes(int n) { return n; }
  static F loadMasked(const float* p, Mask n) { return loadTail(p, n); }
  static void storeMasked(float* p, Mask n, F v) { storeTail(p, v, n); }
  static I loadI(const int32_t* p) { return vld1q_s32(p); }

  // a > b ? a : b per lane (b where a is NaN; FMAX would propagate it).
  static F selectGreater(F a, F b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  // a < b ? x : y per lane.
  static F selectLess(F a, F b, F x, F y) { return vbslq_f32(vcltq_f32(a, b), x, y); }
  static F abs(F a) { return vabsq_f32(a); }
  // |mag| with the sign bit of s or-ed in (mag >= 0).
  static F orSignOf(F mag, F s) {
    const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(s), vdupq_n_u32(0x80000000u));
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(mag), sign));
  }
  static F fmsub(F a, F b, F c) { return vnegq_f32(vfmsq_f32(c, a, b)); }  // a * b - c (c - a * b, negated)
  // Swaps the two floats of every pair.
  static F swapPairs(F a) { return vrev64q_f32(a); }

  static F keepKeyRange(F s, I begin, I end, int32_t key) {
    const int32x4_t k = vdupq_n_s32(key);
    const uint32x4_t ok = vandq_u32(vcleq_s32(begin, k), vcgtq_s32(end, k));
    return vbslq_f32(ok, s, negInf());
  }
  static F addBias(F s, F b) { return vbslq_f32(vceqq_f32(b, negInf()), negInf(), vaddq_f32(s, b)); }
  static F zeroIfNegInf(F m) { return vbslq_f32(vceqq_f32(m, negInf()), zero(), m); }
  static F negInfPastLanes(F s, int n) {
    const int32_t lane[4] = {0, 1, 2, 3};
    return vbslq_f32(vcltq_s32(vld1q_s32(lane), vdupq_n_s32(n)), s, negInf());
  }
  static bool anyNaN(F a) { return vminvq_u32(vceqq_f32(a, a)) == 0; }
  static bool anyGreater(F a, F b) { return vmaxvq_u32(vcgtq_f32(a, b)) != 0; }
  static float hmax(F v) { return vmaxvq_f32(v); }
  static float hsum(F v) { return vaddvq_f32(v); }
  static F reduceLanes(const F* a) { return vpaddq_f32(vpaddq_f32(a[0], a[1]), vpaddq_f32(a[2], a[3])); }

  // In-place 4 x 4 transpose: a[r] lane c becomes a[c] lane r.
  static void transpose(F* a) {
    const F t0 = vtrn1q_f32(a[0], a[1]), t1 = vtrn2q_f32(a[0], a[1]);
    const F t2 = vtrn1q_f32(a[2], a[3]), t3 = vtrn2q_f32(a[2], a[3]);
    a[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    a[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    a[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    a[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
  }
};

}  // namespace sa
