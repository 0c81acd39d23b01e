// The polynomial behind every vector exp2 (kernels/common/exp_<isa>.h), kept in one place so the ISAs
// agree to the bit on the polynomial part.
//
// Range reduction: x = n + f with n = round(x), f in [-1/2, 1/2]; 2^x = 2^n * 2^f, 2^n built exactly
// from the exponent field. 2^f ~= 1 + f*(c1 + f*(c2 + ... + f*c6)), a degree-6 fit of relative
// (minimax, Lawson iterations in double) error 2.0e-9 on [-1/2, 1/2], far below a float ulp
// (6e-8), so the float Horner rounding dominates. The constant term is exactly 1, so exp2(0) == 1
// exactly (a row's maximum gets weight 1 and alpha == 1 when the running max does not move).
// Measured against double exp2: max error 0.95 ulp on AVX-512 over every float in [-126, 0], 0.93
// ulp on AVX2 over 1 in 64 of them; the tests re-check 200000 samples (test_attention.cc,
// exp2_is_accurate). The softmax takes exp2(unitLog2 * (score - reference)) (score units, see
// AttentionHeadInput), so this is its exp; below -126 (natural -87.3) the result is 0.
#pragma once

namespace sa {
namespace exp2poly {
constexpr float c1 = 0.6931471824645996f;
constexpr float c2 = 0.24022647738456726f;
constexpr float c3 = 0.055503323674201965f;
constexpr float c4 = 0.00961843691766262f;
constexpr float c5 = 0.0013398873852565885f;
constexpr float c6 = 0.00015353361959569156f;
// A degree-3 fit of 2^f (relative error 1.0e-4, 2^-13.3, on [-1/2, 1/2]; constant term exactly 1)
// for weights rounded to bfloat16 (2^-9) right after: the degree-6 fit would buy nothing there.
constexpr float kBf16c1 = 0.6932829022407532f;
constexpr float kBf16c2 = 0.24221062660217285f;
constexpr float kBf16c3 = 0.05500869080424309f;
// Below this the result is flushed to 0 (2^-126 is the smallest normal float; natural-log inputs
// below -87.3 land here once scaled by log2(e)). Keeps denormals out of the P.V products.
constexpr float kFlushBelow = -126.0f;

// 2^f for f in [-1/2, 1/2] over vector traits V (V::fmadd(a, b, c) = a * b + c, V::set1).
template <class V>
inline typename V::F fraction(typename V::F f) {
  typename V::F p = V::set1(c6);
  p = V::fmadd(p, f, V::set1(c5));
  p = V::fmadd(p, f, V::set1(c4));
  p = V::fmadd(p, f, V::set1(c3));
  p = V::fmadd(p, f, V::set1(c2));
  p = V::fmadd(p, f, V::set1(c1));
  return V::fmadd(p, f, V::set1(1.0f));
}

// 2^f to bfloat16 precision (the kBf16 fit), for f in [-1/2, 1/2].
template <class V>
inline typename V::F fractionForBf16(typename V::F f) {
  typename V::F p = V::fmadd(V::set1(kBf16c3), f, V::set1(kBf16c2));
  p = V::fmadd(p, f, V::set1(kBf16c1));
  return V::fmadd(p, f, V::set1(1.0f));
}

// 2^x with 2^n built in the exponent field (ISAs without a scale-by-power-of-two instruction):
// x clamped to [-127, 128] (V::max / V::min keep a NaN x: it goes second), n = round(x),
// V::pow2(n) = ((n + 127) << 23) reinterpreted (exact for n in [-126, 128], +inf at 128), and
// lanes with x < kFlushBelow (and -inf) set to exactly 0 (V::zeroWhereBelow; false for NaN).
template <class V>
inline typename V::F byExponentField(typename V::F x) {
  const typename V::F xc = V::min(V::set1(128.0f), V::max(V::set1(-127.0f), x));
  const typename V::F n = V::roundNearest(xc);
  const typename V::F r = V::mul(fraction<V>(V::sub(xc, n)), V::pow2(n));
  return V::zeroWhereBelow(x, kFlushBelow, r);
}
}  // namespace exp2poly
}  // namespace sa
